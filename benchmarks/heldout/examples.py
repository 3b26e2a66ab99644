"""Write rules/examples.yaml, the meaning model's example sentences, from the held-out halves
that have been run in every condition (benchmarks/heldout_<half>_results.json has them all) and
from the sentences written for it alone (benchmarks/heldout/written/, text without audio), and
what the recogniser heard of those halves' turns (benchmarks/heldout/heard/, heard.py).

    .venv/bin/python benchmarks/heldout/examples.py

A half becomes examples only once it has been run in all its conditions, so a half not yet
run stays a measure of the model. Each staff turn is an example of each forbidden rule it says
(`expect`) and of the greeting or farewell it is (`required`), or of none; each citizen turn
is an example of none (on one microphone the
citizen's 我不知道 is heard too).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # a script run from anywhere
from benchmarks.heldout import CONDITIONS, HALVES  # noqa: E402
from etiquette.core.rules import NO_RULE, load_rules  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
WRITTEN = HERE / "written"
HEARD = HERE / "heard"
OUT = ROOT / "rules" / "examples.yaml"

HEADER = """\
# 例句：按意思判断禁用语和迎声、送声的模型从这些句子学习（appendix_b.yaml 的 meaning）。
# 每句标明它说的是哪条禁用语或迎声（R-greeting）、送声（R-farewell）（rule），或都不是（none）；
# source 是句子的出处。
# 由 benchmarks/heldout/examples.py 从已运行过的评测集（benchmarks/heldout/）、专为训练写的例句
# （benchmarks/heldout/written/）和语音识别对评测集各句的识别结果（benchmarks/heldout/heard/，
# source 以 #heard- 结尾）生成：工作人员说的每句按标注的禁用语或迎声、送声，
# 群众说的和工作人员其余的话为 none。可以添加本中心的例句（如复核中确认或驳回的事件原话），
# source 写明出处；重新生成会覆盖本文件，请把自己的例句另存一份。
"""


def _scripts(half: str) -> tuple[Path, set[str] | None]:
    """The scripts file of a half and, for tune and test (one file), its sessions."""
    if half in ("tune", "test"):
        split = yaml.safe_load((HERE / "split.yaml").read_text(encoding="utf-8"))
        return HERE / "scripts.yaml", set(split[half])
    return HERE / f"scripts_{half}.yaml", None


def run_halves() -> list[str]:
    """The halves that have been run in every condition, in the order they were written."""
    def run(half: str) -> bool:
        path = ROOT / "benchmarks" / f"heldout_{half}_results.json"
        done = json.loads(path.read_text(encoding="utf-8"))["conditions"] if path.exists() else {}
        return set(CONDITIONS) <= set(done)

    return [h for h in HALVES if run(h)]


def examples(halves: list[str]) -> list[dict[str, str]]:
    """The labelled sentences of `halves`, then those of every file in written/, then what was
    heard of `halves` (a sentence of several rules once per rule, every sentence once)."""
    out: list[dict[str, str]] = []
    seen: set[tuple[str, str]] = set()

    def add(rule: str, text: str, source: str) -> None:
        if (rule, text) not in seen:
            seen.add((rule, text))
            out.append({"rule": rule, "text": text, "source": source})

    for half in halves:
        path, sessions = _scripts(half)
        for s in yaml.safe_load(path.read_text(encoding="utf-8"))["sessions"]:
            if sessions is not None and s["name"] not in sessions:
                continue
            for t in s["turns"]:
                text = t.get("staff") or t["citizen"]
                rules = (([*t.get("expect", []), *t.get("required", [])] or [NO_RULE])
                         if "staff" in t else [NO_RULE])
                for rule in rules:
                    add(rule, text, f"{half}/{s['name']}")
    for path in sorted(WRITTEN.glob("*.yaml")):
        for row in yaml.safe_load(path.read_text(encoding="utf-8"))["sentences"]:
            add(row["rule"], row["text"], f"written/{path.stem}")
    for half in halves:  # under the half's name, so that a half left out is left out whole
        for path in sorted(HEARD.glob(f"{half}_*.yaml")):
            condition = path.stem.removeprefix(f"{half}_")
            for row in yaml.safe_load(path.read_text(encoding="utf-8"))["sentences"]:
                add(row["rule"], row["text"], f"{half}/{row['session']}#heard-{condition}")
    return out


def main() -> int:
    halves = run_halves()
    rows = examples(halves)
    flow = [yaml.safe_dump(r, allow_unicode=True, default_flow_style=True, width=10_000,
                           sort_keys=False).strip()
            for r in rows]
    body = "\n".join(f"  - {f}" for f in flow)
    OUT.write_text(f"{HEADER}examples:\n{body}\n", encoding="utf-8")
    ids = {r.id for r in load_rules().forbidden}
    forbidden = sum(r["rule"] in ids for r in rows)
    written = sorted(p.stem for p in WRITTEN.glob("*.yaml"))
    heard = sum("#heard-" in r["source"] for r in rows)
    print(f"wrote {OUT}: {len(rows)} sentences ({forbidden} forbidden, {heard} as heard) from "
          f"{', '.join(halves + [f'written/{w}' for w in written])}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
