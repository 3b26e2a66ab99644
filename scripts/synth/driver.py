"""Lint, render and label a list of sessions; write labels YAML (and an incidents-only YAML)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import yaml

from .phrases import lint_session
from .session import Session, build


def dump_yaml(data: Any, path: Path, header: str = "") -> None:
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, default_flow_style=None,
                          width=120)
    Path(path).write_text(header + text, encoding="utf-8")


def generate(sessions: list[Session], out_dir: Path, labels_path: Path | None = None,
             expected_path: Path | None = None, header: str = "", clean: bool = False,
             extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write every session's audio into out_dir; return {file: label record}."""
    problems = [p for s in sessions for p in lint_session(s.turns)]
    names = [s.file for s in sessions]
    if len(set(names)) != len(names):
        problems.append("duplicate file names")
    if problems:
        raise SystemExit("spec problems:\n  " + "\n  ".join(problems))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if clean:  # remove audio from earlier runs that the spec no longer makes
        for old in out_dir.iterdir():
            if old.suffix in {".wav", ".flac", ".mp3", ".m4a", ".ogg", ".opus"} and old.name not in names:
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
        dump_yaml({name: rec["incidents"] for name, rec in records.items()}, expected_path, header)
    return records
