"""The shared recognition pool against a site's own recogniser, on the same utterances (issue 20
item 4).

    python -m benchmarks.recognition_pool                 # staff speech of 6 evaluation files
    python -m benchmarks.recognition_pool --files 12 --sites 4 --threads 2

The staff utterances of the first files of the evaluation set are cut into requests of
`--per-request` utterances (as a site's recogniser worker sends what arrived meanwhile) and
transcribed three ways, with the same model, beam and CPU threads:
  - local: the site's own recogniser, `--sites` requesters at once (one model, as in a site);
  - pool, one requester: the pool (Ray Serve, in-process local Ray, one replica) over HTTP, one
    request at a time, so Serve's batching has nothing to join;
  - pool, `--sites` requesters at once: requests of several sites joined into one call.
Wall time includes the HTTP round trips (not the replica's start). Words are compared per
utterance with the local run's. Results go to recognition_pool_results.json and .md. Requires
the `cluster` extra.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.run import DEFAULT_SET, HERE, machine, setup
from etiquette.core.records import Speaker, Transcript, Utterance
from etiquette.recognition_pool import deploy
from etiquette.speech.audio import MEDIA_SUFFIXES, read_audio
from etiquette.speech.recogniser import Recogniser, RecogniserOptions
from etiquette.speech.remote_recogniser import RemoteRecogniser
from etiquette.speech.segmenter import segment

Transcribe = Callable[[Sequence[Utterance]], list[Transcript]]
PUNCTUATION = re.compile(r"[\W_]+")  # what differs most where neighbours in an input differ


def _requests(files: list[Path], per_request: int) -> list[list[Utterance]]:
    staff = [u for f in files for u in segment(read_audio(f), str(f), f.stem)
             if u.speaker != Speaker.CITIZEN]
    return [staff[k:k + per_request] for k in range(0, len(staff), per_request)]


def _timed(transcribe: Transcribe, requests: list[list[Utterance]], requesters: int
           ) -> tuple[float, list[Transcript]]:
    started = time.perf_counter()
    with ThreadPoolExecutor(requesters) as pool:
        heard = list(pool.map(transcribe, requests))
    return time.perf_counter() - started, [t for r in heard for t in r]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evalset", type=Path, default=DEFAULT_SET)
    parser.add_argument("--files", type=int, default=6, help="the first N media files")
    parser.add_argument("--sites", type=int, default=4, help="requesters at once")
    parser.add_argument("--per-request", type=int, default=4, help="utterances per request")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--model", default="whisper-base")
    args = parser.parse_args()
    files = sorted(f for f in args.evalset.iterdir()
                   if f.suffix.lower() in MEDIA_SUFFIXES)[:args.files]
    requests = _requests(files, args.per_request)
    speech_s = sum(u.duration_s for r in requests for u in r)
    options = RecogniserOptions(model=args.model, cpu_threads=args.threads)
    load = os.getloadavg()
    url = deploy("local", 1, args.threads, options, "127.0.0.1", args.port)
    remote = RemoteRecogniser(url, options)  # its own model is the local recogniser

    def local(utterances: Sequence[Utterance]) -> list[Transcript]:
        return Recogniser.transcribe(remote, utterances)

    runs: list[dict[str, Any]] = []
    reference: list[str] = []
    for kind, transcribe, requesters in (("local", local, args.sites),
                                         ("pool, one requester", remote.transcribe, 1),
                                         (f"pool, {args.sites} requesters", remote.transcribe,
                                          args.sites)):
        wall_s, heard = _timed(transcribe, requests, requesters)
        texts = [t.text for t in heard]
        reference = reference or texts
        runs.append({"run": kind, "requesters": requesters, "wall_s": round(wall_s, 1),
                     "speech_s_per_s": round(speech_s / wall_s, 2),
                     "same_text": sum(a == b for a, b in zip(texts, reference, strict=True)),
                     "same_words": sum(PUNCTUATION.sub("", a) == PUNCTUATION.sub("", b)
                                       for a, b in zip(texts, reference, strict=True))})
        print(kind, round(wall_s, 1), "s", flush=True)
    assert remote.stats.local == 0, "the pool failed a call: the figures would mix both"
    utterances = sum(map(len, requests))
    out = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
           "load_average_at_start": [round(x, 2) for x in load],
           "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
           "files": len(files), "utterances": utterances, "requests": len(requests),
           "speech_s": round(speech_s, 1), "threads": args.threads, "runs": runs}
    (HERE / "recognition_pool_results.json").write_text(
        json.dumps(out, indent=2, ensure_ascii=False), encoding="utf-8")
    rows = "\n".join(f"| {x['run']} | {x['wall_s']} | {x['speech_s_per_s']} | "
                     f"{x['same_text']} | {x['same_words']} |" for x in runs)
    (HERE / "recognition_pool_results.md").write_text(f"""# Recognition pool vs own recogniser

{out['when']}; {setup(out['machine'], args.model)}; load average (1/5/15 min) at start
{' / '.join(map(str, out['load_average_at_start']))}, at end
{' / '.join(map(str, out['load_average_at_end']))} (the machine is shared).
The staff speech of the first {len(files)} files of `{args.evalset.name}`: {utterances}
utterances ({out['speech_s']} s) in {len(requests)} requests of up to {args.per_request}. The
pool: Ray Serve on an in-process local Ray, one replica of {args.threads} threads, reached over
HTTP; local: the same model and threads in this process. Wall time excludes model loads.
Utterances whose text equals the local run's, exactly and without punctuation and spaces
(of {utterances}): requests joined into one call have other neighbours in Whisper's 30 s
inputs, which changes punctuation and some words, as windows sharing a site's recogniser do.

| run | wall s | speech s per s | same text as local | same without punctuation |
|---|---|---|---|---|
{rows}
""", encoding="utf-8")


if __name__ == "__main__":
    main()
