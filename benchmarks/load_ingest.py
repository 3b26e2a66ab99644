"""Load test of ingest: N concurrent pipelines post incidents with audio clips to a service on
127.0.0.1, then the database is checked: none lost, none duplicated, every clip intact.

    python -m benchmarks.load_ingest [--incidents 10000] [--sites 20] [--postgres]
    python -m benchmarks.load_ingest --postgres --sites 50 --workers 1 --workers 4

The service runs as its own process (`python -m etiquette.service serve`) on a free loopback
port with a fresh data directory; each site (pipeline) is a thread with its own API key, window
id and HTTP connection, posting one multipart request per incident, retrying (same id) on a
connection error, 5xx or 429 as `etiquette batch --post` does, and re-sending a few incidents on
purpose to exercise idempotency under load. `--postgres` runs the same against a throwaway
PostgreSQL cluster (initdb on PATH or Debian's, into a temporary folder, loopback port).
`--workers N` (PostgreSQL only; repeat it to compare) starts the service as `serve --workers N`,
each N on a fresh cluster, one after the other in the same invocation, and gives each rate as a
multiple of the 1-worker run's. Results, one entry per database (and worker count), go to
benchmarks/ingest_results.{json,md} (or `--out FILE.json` and the Markdown beside it).
Every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import pwd
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


SKIPPED = 3  # the exit status when PostgreSQL was asked for and cannot run here


class NoPostgres(RuntimeError):
    """What is missing to run against PostgreSQL here."""


def pg_bin() -> Path:
    """The folder of initdb and pg_ctl (on PATH, else Debian's newest), once the service's driver
    and, as root, the user to run them as are known to be there too."""
    found = shutil.which("initdb")
    bins = [Path(os.path.realpath(found))] if found else sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not bins:
        raise NoPostgres("PostgreSQL binaries not found: no initdb on PATH nor in "
                         "/usr/lib/postgresql/*/bin (apt-get install postgresql)")
    try:
        import psycopg  # noqa: F401 - the service's PostgreSQL driver
    except ImportError as e:
        raise NoPostgres(f"the PostgreSQL driver psycopg is not installed: {e}") from e
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: it runs as user postgres
        try:
            pwd.getpwnam("postgres")
        except KeyError as e:
            raise NoPostgres("running as root, and there is no user postgres to run "
                             "PostgreSQL as") from e
    return bins[-1].parent


class Postgres:
    """A throwaway cluster on a free loopback port (as user postgres when run as root)."""

    def __init__(self) -> None:
        self.bin = pg_bin()
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
    parser.add_argument("--sites", "--pipelines", dest="pipelines", type=int, default=20,
                        help="simulated sites (pipelines), each with its own API key and window")
    parser.add_argument("--clip-seconds", type=float, default=2.0)
    parser.add_argument("--postgres", action="store_true",
                        help="a throwaway PostgreSQL cluster instead of SQLite")
    parser.add_argument("--workers", type=int, action="append", default=[],
                        help="serve --workers N (needs --postgres); repeat to compare")
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument("--no-write", action="store_true", help="do not write the results files")
    parser.add_argument("--out", type=Path, default=RESULTS_JSON,
                        help="the results JSON to add to (the Markdown is written beside it)")
    args = parser.parse_args()
    if args.workers and not args.postgres:
        parser.error("--workers needs --postgres (serve refuses several workers on SQLite)")
    if args.postgres:
        try:
            pg_bin()
        except NoPostgres as e:
            print(f"skipped: {e}", file=sys.stderr)
            return SKIPPED
    results = []
    for workers in args.workers or [None]:
        postgres = Postgres() if args.postgres else None
        try:
            results.append(run(args, postgres.url if postgres else None, workers))
        finally:
            if postgres:
                postgres.stop()
    one = next((r for r in results if r["workers"] == 1), None)
    for r in results:
        if one and r["workers"] not in (None, 1):
            r["rate_vs_1_worker"] = round(r["incidents_per_s"] / one["incidents_per_s"], 2)
        print(json.dumps(r, ensure_ascii=False, indent=2))
    if not args.no_write:
        runs = json.loads(args.out.read_text(encoding="utf-8")) if args.out.exists() else {}
        runs = runs if "database" not in runs else {runs["database"]: runs}
        runs.update({label(r): r for r in results})
        args.out.write_text(json.dumps(runs, ensure_ascii=False, indent=2) + "\n",
                            encoding="utf-8")
        args.out.with_suffix(".md").write_text(
            "# Ingest load test\n\n" + "\n".join(markdown(r) for r in runs.values()),
            encoding="utf-8")
    return 0 if all(r["ok"] for r in results) else 1


def label(r: dict) -> str:  # type: ignore[type-arg]
    """The results' key: the database, and the sites and workers where workers were asked for."""
    if not r.get("workers"):
        return str(r["database"])
    return f"{r['database']}, {r['pipelines']} sites, serve --workers {r['workers']}"


def run(args: argparse.Namespace, database_url: str | None, workers: int | None
        ) -> dict[str, object]:
    data_dir = Path(tempfile.mkdtemp(prefix="etiquette-load-"))
    keys = make_keys(data_dir, database_url, args.pipelines)
    options = ["--database-url", database_url] if database_url else []
    options += ["--workers", str(workers)] if workers else []
    load_before = os.getloadavg()
    with running(data_dir, env={"ETIQUETTE_RETENTION_INTERVAL_S": "86400"},
                 command=SERVICE_ALONE, options=options) as (base, _):
        per = [args.incidents // args.pipelines + (1 if i < args.incidents % args.pipelines else 0)
               for i in range(args.pipelines)]
        start_at = datetime.now(UTC) - timedelta(days=1)
        deadline = time.monotonic() + TIME_LIMIT_S
        threads = [Pipeline(i, per[i], f"{base}/api/v1/incidents", keys[i], args.clip_seconds,
                            start_at, deadline) for i in range(args.pipelines)]
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        for t in threads:
            t.start()
        for t in threads:
            t.join(TIME_LIMIT_S + 60)
        wall = time.perf_counter() - t0
        client_cpu = time.process_time() - cpu0
    load_after = os.getloadavg()
    sent = {i: sha for t in threads for i, sha in t.sent.items()}
    checks = verify(data_dir, database_url, sent)
    latencies = sorted(x for t in threads for x in t.latencies)
    requests = len(latencies)

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000, 1)

    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "database": "postgresql" if database_url else "sqlite (WAL)",
        "workers": workers, "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        # The client is one Python process (threads): near 1 core it, not the service, may be
        # what limits the rate.
        "client_cpu_cores": round(client_cpu / wall, 2),
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
        "latency_ms": {"p50": pct(50), "p90": pct(90), "p95": pct(95), "p99": pct(99),
                       "max": pct(100),
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
    for t in threads:
        for f in t.failed[:5]:
            print("failed:", f, file=sys.stderr)
    if not args.keep:
        shutil.rmtree(data_dir, ignore_errors=True)
    return result


def markdown(r: dict) -> str:  # type: ignore[type-arg]
    lat = r["latency_ms"]
    c = r["checks"]
    p95 = f"p95 {lat['p95']} ms, " if "p95" in lat else ""
    if r.get("workers"):
        n = r["workers"]
        service = (f"`etiquette serve --workers {n}` (uvicorn, {n} worker "
                   f"process{'es' if n > 1 else ''} on one port)")
        ratio = r.get("rate_vs_1_worker")
        ratio_row = (f"| rate over the 1-worker run of the same invocation | **{ratio}×** |\n"
                     if ratio else "")
        before, after = r["load_average_before"], r["load_average_after"]
        load = (f"| load average (1/5/15 min) before / after | {' / '.join(map(str, before))}"
                f" → {' / '.join(map(str, after))} |\n"
                f"| client CPU (one process, threads) | {r['client_cpu_cores']} cores |\n")
    else:
        service, ratio_row, load = "one `etiquette serve` process (uvicorn, one worker)", "", ""
    return f"""## {label(r)}

Written by `python -m benchmarks.load_ingest` on {r['when']} ({r['machine']['cpus']} CPUs,
Python {r['machine']['python']}). Client and service share the machine; the service is
{service} on 127.0.0.1 with {r['database']}.

| what | value |
| --- | --- |
| concurrent pipelines (sites) | {r['pipelines']} (one thread, one API key, one window id, \
one connection each) |
| incidents posted | {r['incidents']}, each with a distinct {r['clip_bytes']:,}-byte WAV clip |
| deliberate re-sends of delivered incidents | {r['deliberate_resends']} |
| stored new / answered "already stored" | {r['created']} / {r['already_stored']} |
| client retries (connection error, 5xx, 429) | {r['client_retries']} |
| failed | {r['failed']} |
| wall time | {r['wall_s']} s |
| sustained rate | **{r['incidents_per_s']} incidents/s** ({r['requests_per_s']} requests/s, \
{r['mb_per_s']} MB/s of evidence) |
| latency per request | p50 {lat['p50']} ms, p90 {lat['p90']} ms, {p95}p99 {lat['p99']} ms, \
max {lat['max']} ms |
{ratio_row}{load}
Checked in the database afterwards: {c['incidents_in_db']} incidents \
({c['distinct_ids_in_db']} distinct ids),
{c['evidence_rows']} evidence rows, {c['ingest_audit_entries']} ingest audit entries; missing
{c['missing']}, wrong clip {c['wrong_clip']}, clip file missing {c['clip_file_missing']}.
**Lost: {r['lost']}. Duplicated: {r['duplicated']}.** Result: {'pass' if r['ok'] else 'FAIL'}.
"""


if __name__ == "__main__":
    sys.exit(main())
