"""Lint, render and label a list of sessions; write labels YAML (and an incidents-only YAML)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import yaml

from .phrases import lint_session
from .session import Session, build


class _Flow(dict):
    """A mapping written on one line (turns, incidents)."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Flow, lambda d, data: d.represent_mapping(
    "tag:yaml.org,2002:map", data.items(), flow_style=True))


def _flow_records(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: ([_Flow(x) for x in v] if k in ("turns", "incidents") and isinstance(v, list)
                    else _flow_records(v)) for k, v in data.items()}
    return data


def dump_yaml(data: Any, path: Path, header: str = "") -> None:
    data = _flow_records(data)
    if isinstance(data, dict) and all(isinstance(v, list) for v in data.values()):
        data = {k: [_Flow(x) for x in v] for k, v in data.items()}  # {file: [incident, ...]}
    text = yaml.dump(data, Dumper=_Dumper, allow_unicode=True, sort_keys=False,
                     default_flow_style=None, width=200)
    Path(path).write_text(header + text, encoding="utf-8")


def _foreign_blocks(path: Path, ours: set[str], header: str) -> str:
    """The top-level entries of an existing YAML file that are not ours, verbatim.

    A block is a top-level key, its indented / list lines, and the comment lines just above
    it; comments that repeat our header are dropped. Lets another generator own some keys of
    the same file (recordings_sample/make_counter_video.py writes window06 into expected.yaml).
    """
    if not Path(path).exists():
        return ""
    header_lines = {ln.rstrip() for ln in header.splitlines()}
    blocks: list[tuple[str, list[str]]] = []
    pending: list[str] = []
    for line in Path(path).read_text(encoding="utf-8").splitlines(keepends=True):
        if line.startswith("#") or not line.strip():
            pending.append(line)
        elif line[0] not in " -":
            key = str(next(iter(yaml.safe_load(line.split(":", 1)[0] + ": null"))))
            blocks.append((key, [ln for ln in pending if ln.rstrip() not in header_lines] + [line]))
            pending = []
        elif blocks:
            blocks[-1][1].append(line)
    return "".join("".join(lines) for key, lines in blocks if key not in ours)


def generate(sessions: list[Session], out_dir: Path, labels_path: Path | None = None,
             expected_path: Path | None = None, header: str = "", clean: str | None = None,
             extra: dict[str, Any] | None = None, merge: bool = False,
             check_tags: bool = True) -> dict[str, Any]:
    """Write every session's audio into out_dir; return {file: label record}.

    clean: a glob (e.g. "eval*"); audio files in out_dir matching it that the spec no longer
    makes are deleted. merge: keep the entries of expected_path that belong to files this
    spec does not make (another generator's) verbatim, replacing only our own keys.
    check_tags: False where the turns say forbidden phrases in words the phrase bank does not
    list (the meaning model's test), so the bank cannot check their tags.
    """
    problems = [p for s in sessions for p in lint_session(s.turns)] if check_tags else []
    names = [s.file for s in sessions]
    if len(set(names)) != len(names):
        problems.append("duplicate file names")
    if problems:
        raise SystemExit("spec problems:\n  " + "\n  ".join(problems))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if clean:  # remove audio from earlier runs that the spec no longer makes
        for old in out_dir.glob(clean):
            if (old.suffix in {".wav", ".flac", ".mp3", ".m4a", ".ogg", ".opus"}
                    and old.name not in names):
                old.unlink()
    records: dict[str, Any] = {}
    t0 = time.time()
    for i, s in enumerate(sessions, 1):
        rec = build(s, out_dir)
        records[s.file] = {k: v for k, v in rec.items() if k != "file"}
        size = (out_dir / s.file).stat().st_size
        print(f"[{i}/{len(sessions)}] {s.file}: {rec['duration_s']:.1f} s, {size / 1024:.0f} KiB, "
              f"{len(rec['incidents'])} incidents ({time.time() - t0:.0f} s)", file=sys.stderr)
    if labels_path:
        dump_yaml({**(extra or {}), "files": records}, labels_path, header)
    if expected_path:
        foreign = _foreign_blocks(expected_path, set(records), header) if merge else ""
        dump_yaml({name: rec["incidents"] for name, rec in records.items()}, expected_path, header)
        if foreign:
            with open(expected_path, "a", encoding="utf-8") as f:
                f.write(foreign)
    return records
