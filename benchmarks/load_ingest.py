"""Load test of ingest: N concurrent pipelines post incidents with audio clips to a service on
127.0.0.1, then the database is checked: none lost, none duplicated, every clip intact.

    python -m benchmarks.load_ingest [--incidents 10000] [--pipelines 20] [--postgres]

The service runs as its own process (`python -m etiquette.service serve`) on a free loopback
port with a fresh data directory; each pipeline is a thread with its own API key and HTTP
connection, posting one multipart request per incident, retrying (same id) on a connection
error, 5xx or 429 as `etiquette batch --post` does, and re-sending a few incidents on purpose
to exercise idempotency under load. `--postgres` runs the same against a throwaway PostgreSQL
cluster (Debian's binaries, initdb into a temporary folder, loopback port). Results, one entry
per database, go to benchmarks/ingest_results.{json,md}.
Every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import numpy.random  # noqa: F401 - imported before the threads: its lazy import is not thread-safe

from benchmarks.service_process import SERVICE_ALONE, free_port, running

HERE = Path(__file__).resolve().parent
RESULTS_JSON = HERE / "ingest_results.json"
RESULTS_MD = HERE / "ingest_results.md"
RESEND_EVERY = 50  # every 50th incident is sent twice on purpose
MAX_ATTEMPTS = 6
TIME_LIMIT_S = 1800.0


def clip(seed: int, seconds: float) -> bytes:
    """A distinct clip per incident (low noise), 16 kHz 16-bit mono WAV."""
    rng = np.random.default_rng(seed)
    pcm = (rng.standard_normal(int(16000 * seconds)) * 800).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def incident_line(pipeline: int, k: int, start: datetime) -> dict[str, object]:
    return {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"etiquette-load:{pipeline}:{k}")),
            "source": f"live/window{pipeline:02d}", "window_id": f"window{pipeline:02d}",
            "kind": "forbidden_phrase", "rule_id": "F1-1", "rule_name": "禁用语：不知道",
            "phrase": "不知道", "speaker": "staff", "offset_s": float(k), "end_s": k + 1.2,
            "at": (start + timedelta(seconds=k)).isoformat(), "transcript": "这个我也不知道",
            "score": 1.0, "severity": "major", "deduction": 2.0,
            "explanation": "「不知道」匹配「不知道」（逐字相同），相似度 1.00"}


class Pipeline(threading.Thread):
    def __init__(self, index: int, count: int, url: str, key: str, clip_s: float,
                 start: datetime, deadline: float) -> None:
        super().__init__(name=f"pipeline-{index}")
        self.index, self.count, self.url, self.key = index, count, url, key
        self.clip_s, self.start_at, self.deadline = clip_s, start, deadline
        self.latencies: list[float] = []
        self.sent: dict[str, str] = {}  # id → sha256 of its clip
        self.created = self.already = self.retries = 0
        self.failed: list[str] = []

    def post(self, client: httpx.Client, body: dict[str, object], data: bytes) -> None:
        for attempt in range(MAX_ATTEMPTS):
            if time.monotonic() > self.deadline:
                self.failed.append(f"{body['id']}: time limit")
                return
            t0 = time.perf_counter()
            try:
                r = client.post(self.url, data={"incident": json.dumps(body, ensure_ascii=False)},
                                files={"clip": ("clip.wav", data, "audio/wav")})
            except httpx.TransportError:
                self.retries += 1
                time.sleep(0.2 * 2 ** attempt)
                continue
            if r.status_code in (200, 201):
                self.latencies.append(time.perf_counter() - t0)
                if r.status_code == 201:
                    self.created += 1
                else:
                    self.already += 1
                return
            if r.status_code in (429, 500, 502, 503, 504):
                self.retries += 1
                time.sleep(0.2 * 2 ** attempt)
                continue
            self.failed.append(f"{body['id']}: HTTP {r.status_code} {r.text[:200]}")
            return
        self.failed.append(f"{body['id']}: gave up after {MAX_ATTEMPTS} attempts")

    def run(self) -> None:
        with httpx.Client(timeout=120, headers={"X-API-Key": self.key}) as client:
            for k in range(self.count):
                body = incident_line(self.index, k, self.start_at)
                data = clip(self.index * 1_000_000 + k, self.clip_s)
                self.sent[str(body["id"])] = hashlib.sha256(data).hexdigest()
                self.post(client, body, data)
                if k % RESEND_EVERY == 0:
                    self.post(client, body, data)  # a retry of a delivered incident


class Postgres:
    """A throwaway cluster on a free loopback port (as user postgres when run as root)."""

    def __init__(self) -> None:
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not bins:
            raise SystemExit("PostgreSQL binaries not found (apt-get install postgresql)")
        self.bin = bins[-1].parent
        self.root = Path(tempfile.mkdtemp(prefix="etiquette-load-pg-"))
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.root, "postgres", "postgres")
        self.port = free_port()
        data = str(self.root / "data")
        subprocess.run([*self.as_user, str(self.bin / "initdb"), "-D", data, "-U", "postgres",
                        "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"], check=True,
                       capture_output=True, timeout=300)
        subprocess.run([*self.as_user, str(self.bin / "pg_ctl"), "-D", data, "-l",
                        str(self.root / "log"), "-w", "-t", "60", "-o",
                        f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                        "-c max_connections=200", "start"], check=True, capture_output=True,
                       timeout=120)
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        subprocess.run([*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.root / "data"),
                        "-m", "fast", "stop"], capture_output=True, timeout=120)
        shutil.rmtree(self.root, ignore_errors=True)


def make_keys(data_dir: Path, database_url: str | None, n: int) -> list[str]:
    from etiquette.service.core.config import Settings
    from etiquette.service.core.db import make_engine, make_sessionmaker
    from etiquette.service.main import prestart
    from etiquette.service.schemas import ApiKeyCreate
    from etiquette.service.services import users
    from etiquette.service.services.access import SYSTEM_CLI

    settings = Settings(data_dir=data_dir, database_url=database_url)
    engine = make_engine(settings.sqlalchemy_url)
    prestart(settings, engine)
    keys = []
    with make_sessionmaker(engine)() as session:
        for i in range(n):
            _, key = users.create_api_key(session=session, principal=SYSTEM_CLI,
                                          key_in=ApiKeyCreate(name=f"load-{i:02d}"))
            keys.append(key)
    engine.dispose()
    return keys


def verify(data_dir: Path, database_url: str | None, sent: dict[str, str]) -> dict[str, object]:
    from sqlalchemy import func, select

    from etiquette.service.core.config import Settings
    from etiquette.service.core.db import make_engine, make_sessionmaker
    from etiquette.service.evidence_store import EvidenceStore
    from etiquette.service.models import AuditEntry, Evidence, Incident

    settings = Settings(data_dir=data_dir, database_url=database_url)
    engine = make_engine(settings.sqlalchemy_url)
    store = EvidenceStore(settings.evidence_dir)
    with make_sessionmaker(engine)() as s:
        incidents = s.scalar(select(func.count()).select_from(Incident)) or 0
        distinct = s.scalar(select(func.count(func.distinct(Incident.id)))) or 0
        evidence = dict(s.execute(select(Evidence.incident_id, Evidence.sha256)).all())
        ingest_audits = s.scalar(select(func.count()).select_from(AuditEntry)
                                 .where(AuditEntry.action == "incident.ingest")) or 0
    engine.dispose()
    missing = [i for i in sent if i not in evidence]
    wrong = [i for i, sha in sent.items() if evidence.get(i) not in (None, sha)]
    unreadable = [i for i, sha in sent.items() if i in evidence and not store.exists(sha)]
    return {"incidents_in_db": incidents, "distinct_ids_in_db": distinct,
            "evidence_rows": len(evidence), "ingest_audit_entries": ingest_audits,
            "missing": len(missing), "wrong_clip": len(wrong), "clip_file_missing": len(unreadable)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--pipelines", type=int, default=20)
    parser.add_argument("--clip-seconds", type=float, default=2.0)
    parser.add_argument("--postgres", action="store_true",
                        help="a throwaway PostgreSQL cluster instead of SQLite")
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument("--no-write", action="store_true", help="do not write the results files")
    args = parser.parse_args()
    postgres = Postgres() if args.postgres else None
    args.database_url = postgres.url if postgres else None
    try:
        return run(args)
    finally:
        if postgres:
            postgres.stop()


def run(args: argparse.Namespace) -> int:
    data_dir = Path(tempfile.mkdtemp(prefix="etiquette-load-"))
    keys = make_keys(data_dir, args.database_url, args.pipelines)
    options = ["--database-url", args.database_url] if args.database_url else []
    with running(data_dir, env={"ETIQUETTE_RETENTION_INTERVAL_S": "86400"},
                 command=SERVICE_ALONE, options=options) as (base, _):
        per = [args.incidents // args.pipelines + (1 if i < args.incidents % args.pipelines else 0)
               for i in range(args.pipelines)]
        start_at = datetime.now(UTC) - timedelta(days=1)
        deadline = time.monotonic() + TIME_LIMIT_S
        threads = [Pipeline(i, per[i], f"{base}/api/v1/incidents", keys[i], args.clip_seconds,
                            start_at, deadline) for i in range(args.pipelines)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join(TIME_LIMIT_S + 60)
        wall = time.perf_counter() - t0
    sent = {i: sha for t in threads for i, sha in t.sent.items()}
    checks = verify(data_dir, args.database_url, sent)
    latencies = sorted(x for t in threads for x in t.latencies)
    requests = len(latencies)

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000, 1)

    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "database": "postgresql" if args.database_url else "sqlite (WAL)",
        "pipelines": args.pipelines, "incidents": args.incidents,
        "clip_bytes": len(clip(0, args.clip_seconds)), "deliberate_resends": sum(
            len(range(0, n, RESEND_EVERY)) for n in per),
        "created": sum(t.created for t in threads),
        "already_stored": sum(t.already for t in threads),
        "client_retries": sum(t.retries for t in threads),
        "failed": sum(len(t.failed) for t in threads),
        "wall_s": round(wall, 1), "incidents_per_s": round(args.incidents / wall, 1),
        "requests_per_s": round(requests / wall, 1),
        "mb_per_s": round(args.incidents * len(clip(0, args.clip_seconds)) / wall / 1e6, 1),
        "latency_ms": {"p50": pct(50), "p90": pct(90), "p99": pct(99), "max": pct(100),
                       "mean": round(statistics.fmean(latencies) * 1000, 1) if latencies else None},
        "checks": checks,
    }
    result["lost"] = checks["missing"]
    result["duplicated"] = int(checks["incidents_in_db"]) - int(checks["distinct_ids_in_db"]) + max(
        0, int(checks["incidents_in_db"]) - args.incidents)
    ok = (result["lost"] == 0 and result["duplicated"] == 0 and checks["wrong_clip"] == 0
          and checks["clip_file_missing"] == 0 and checks["incidents_in_db"] == args.incidents
          and checks["ingest_audit_entries"] == args.incidents and result["failed"] == 0)
    result["ok"] = ok
    print(json.dumps(result, ensure_ascii=False, indent=2))
    for t in threads:
        for f in t.failed[:5]:
            print("failed:", f, file=sys.stderr)
    if not args.no_write:
        runs = json.loads(RESULTS_JSON.read_text(encoding="utf-8")) if RESULTS_JSON.exists() else {}
        runs = runs if "database" not in runs else {runs["database"]: runs}
        runs[result["database"]] = result
        RESULTS_JSON.write_text(json.dumps(runs, ensure_ascii=False, indent=2) + "\n",
                                encoding="utf-8")
        RESULTS_MD.write_text("# Ingest load test\n\n"
                              + "\n".join(markdown(r) for r in runs.values()),
                              encoding="utf-8")
    if not args.keep:
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0 if ok else 1


def markdown(r: dict) -> str:  # type: ignore[type-arg]
    lat = r["latency_ms"]
    c = r["checks"]
    return f"""## {r['database']}

Written by `python -m benchmarks.load_ingest` on {r['when']} ({r['machine']['cpus']} CPUs,
Python {r['machine']['python']}). Client and service share the machine; the service is one
`etiquette serve` process (uvicorn, one worker) on 127.0.0.1 with {r['database']}.

| what | value |
| --- | --- |
| concurrent pipelines | {r['pipelines']} (one thread, one API key, one connection each) |
| incidents posted | {r['incidents']}, each with a distinct {r['clip_bytes']:,}-byte WAV clip |
| deliberate re-sends of delivered incidents | {r['deliberate_resends']} |
| stored new / answered "already stored" | {r['created']} / {r['already_stored']} |
| client retries (connection error, 5xx, 429) | {r['client_retries']} |
| failed | {r['failed']} |
| wall time | {r['wall_s']} s |
| sustained rate | **{r['incidents_per_s']} incidents/s** ({r['requests_per_s']} requests/s, \
{r['mb_per_s']} MB/s of evidence) |
| latency per request | p50 {lat['p50']} ms, p90 {lat['p90']} ms, p99 {lat['p99']} ms, \
max {lat['max']} ms |

Checked in the database afterwards: {c['incidents_in_db']} incidents \
({c['distinct_ids_in_db']} distinct ids),
{c['evidence_rows']} evidence rows, {c['ingest_audit_entries']} ingest audit entries; missing
{c['missing']}, wrong clip {c['wrong_clip']}, clip file missing {c['clip_file_missing']}.
**Lost: {r['lost']}. Duplicated: {r['duplicated']}.** Result: {'pass' if r['ok'] else 'FAIL'}.
"""


if __name__ == "__main__":
    sys.exit(main())
