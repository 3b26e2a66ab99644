"""A site's recogniser that sends its utterances to a shared recognition pool first.

With `recognition: {backend: ray, address: …}` a site's batches of utterances go over HTTP to
the pool (`etiquette recognition-pool serve`: the recogniser as a Ray Serve deployment whose
replicas batch the requests of many halls). Nothing of Ray is imported here: a site needs only
the address of the pool's HTTP route.

When the pool cannot be reached or fails a call, that call's utterances are transcribed by the
site's own model, so nothing is lost; the outage is reported once (log and health event, in
Chinese), the pool is tried again every `retry_s`, and its return is reported too. The site's
own model is loaded at start all the same: its acoustic check of near misses uses it
(`SpeechPipeline.verifier`), and so a fallback starts at once.

The pool decodes each site's utterances as the site's own model would: the site's prompt (its
`initial_prompt` and, with `rule_prompt`, the rules' phrases) and beam travel with each request
(`Decoding`), and the pool answers with what it used, which the site checks. Its model is its
own: it says which (a GET of its route, and each answer), and a site whose own model, its
fallback, is another (name or compute type) logs a warning and shows it in its health.

The wire: a request is a NumPy `.npz` (no pickles) of the utterances' audio end to end, their
lengths, their other fields and the decoding as JSON; the answer is the transcripts as JSON
(`Transcript.to_json`), which `Transcript.from_json` reads back whole, and the decoding used.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import PurePath
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np

from etiquette.core.records import Speaker, Transcript, Utterance
from etiquette.health import HealthCallback, HealthReporter, HealthState
from etiquette.speech.recogniser import Decoding, Recogniser, RecogniserOptions
from etiquette.speech.text_guard import Guard

logger = logging.getLogger("etiquette.speech.remote_recogniser")

COMPONENT = "recognition-pool"
CONTENT_TYPE = "application/x-npz"


class PoolError(Exception):
    """The pool did not answer, or answered with an error."""


def encode_request(utterances: Sequence[Utterance], decoding: Decoding) -> bytes:
    """`utterances`, to be decoded as `decoding` says, as one request body."""
    meta = [{"source": u.source, "window_id": u.window_id, "speaker": u.speaker.value,
             "channel": u.channel, "start_s": u.start_s, "end_s": u.end_s} for u in utterances]
    audio = [np.asarray(u.audio, dtype=np.float32) for u in utterances]
    body = io.BytesIO()
    np.savez(body, meta=_json_bytes(meta), decoding=_json_bytes(decoding_to_json(decoding)),
             lengths=np.array([len(a) for a in audio], dtype=np.int64),
             audio=np.concatenate(audio) if audio else np.zeros(0, np.float32))
    return body.getvalue()


def decode_request(body: bytes) -> tuple[list[Utterance], Decoding]:
    """The utterances of a request body (`encode_request`) and how to decode them.

    Raises:
      ValueError, KeyError, TypeError: the body is not such a request.
    """
    with np.load(io.BytesIO(body), allow_pickle=False) as z:
        meta = json.loads(z["meta"].tobytes().decode())
        decoding = decoding_from_json(json.loads(z["decoding"].tobytes().decode()))
        lengths = [int(n) for n in z["lengths"]]
        audio = z["audio"]
    if len(meta) != len(lengths) or sum(lengths) != len(audio):
        raise ValueError(f"{len(meta)} utterances, {len(lengths)} lengths, {len(audio)} samples")
    starts = np.cumsum([0, *lengths])
    return [Utterance(m["source"], m["window_id"], Speaker(m["speaker"]), m["channel"],
                      m["start_s"], m["end_s"], audio[start:start + n])
            for m, start, n in zip(meta, starts, lengths, strict=False)], decoding


def decoding_to_json(decoding: Decoding) -> dict[str, Any]:
    return {"prompt": decoding.prompt, "beam_size": decoding.beam_size}


def decoding_from_json(d: dict[str, Any]) -> Decoding:
    prompt, beam_size = d["prompt"], d["beam_size"]
    if not (prompt is None or isinstance(prompt, str)) or type(beam_size) is not int \
            or beam_size < 1:
        raise ValueError(f"decoding {d!r}")
    return Decoding(prompt, beam_size)


def _json_bytes(value: Any) -> np.ndarray:
    return np.frombuffer(json.dumps(value, ensure_ascii=False).encode(), dtype=np.uint8)


@dataclass
class PoolStats:
    pool: int = 0  # utterances the pool transcribed
    local: int = 0  # utterances transcribed here because the pool could not
    failures: int = 0  # calls to the pool that failed
    on_pool: bool = False  # the pool answered the last call (or the probe at start)
    since: datetime = field(default_factory=lambda: datetime.now(UTC))  # on_pool last changed
    settings: dict[str, Any] | None = None  # the pool's model, as it last said
    differs: tuple[str, ...] = ()  # how this site's own model differs from it, in Chinese


def differences(pool: dict[str, Any], own: RecogniserOptions) -> tuple[str, ...]:
    """How this site's own model (its fallback) differs from the pool's `pool` settings: the
    model's name (not its directory: a pool and a site keep models in different places) and
    the compute type."""
    found = []
    if PurePath(str(pool["model"])).name != PurePath(own.model).name:
        found.append(f"模型：识别池 {pool['model']}，本站点 {own.model}")
    if pool["compute_type"] != own.compute_type:
        found.append(f"计算类型：识别池 {pool['compute_type']}，本站点 {own.compute_type}")
    return tuple(found)


class RemoteRecogniser(Recogniser):
    """A `Recogniser` (the site's own model, for fallback and the acoustic check) that gives
    its work to the pool at `address` while the pool answers.

    Args:
      address: the pool's HTTP route, e.g. http://pool-host:8000/recognise.
      timeout_s: how long one call may take before it is transcribed here instead.
      retry_s: after a failure, how long the site transcribes alone before trying the pool.
    """

    def __init__(self, address: str, options: RecogniserOptions | None = None,
                 guard: Guard | None = None, phrases: Sequence[str] = (), *,
                 timeout_s: float = 60.0, retry_s: float = 30.0) -> None:
        super().__init__(options, guard, phrases)
        self.address, self.retry_s = address, retry_s
        self.stats = PoolStats()
        self._client = httpx.Client(timeout=httpx.Timeout(timeout_s, connect=3.0))
        self._lock = threading.Lock()
        self._down_since: float | None = None  # monotonic time of the last failure
        self._health = HealthReporter(COMPONENT, None)
        self._last: tuple[HealthState, str] = (HealthState.OK, f"识别池 {address} 可用")
        self.probe()

    def status(self) -> PoolStats:
        """A consistent copy of the counters and of where the site transcribes now."""
        with self._lock:
            return replace(self.stats)

    def report_to(self, on_health: HealthCallback) -> None:
        """Report the pool's state (now, and each change from now on) to `on_health`."""
        self._health = HealthReporter(COMPONENT, on_health)
        self._health.report(*self._last)

    def probe(self) -> bool:
        """Whether the pool's route is deployed and answering, with the pool's settings (asked
        at start)."""
        try:
            answer = self._client.get(self.address, timeout=3.0)
            if answer.status_code == 404:
                raise PoolError(f"地址上没有 {urlsplit(self.address).path} 这一路由"
                                f"（识别池未部署）")
            answer.raise_for_status()
            settings = _settings(answer.json())
        except (httpx.HTTPError, ValueError, KeyError, TypeError, PoolError) as e:
            self._failed(e, at_start=True)
            return False
        self._answered(settings)
        return True

    def transcribe(self, utterances: Sequence[Utterance], decoding: Decoding | None = None
                   ) -> list[Transcript]:
        """Transcripts of `utterances` from the pool; from this site's own model where the pool
        is down or fails this call. Decoded as `decoding` says, by default as this site's
        options say (`self.decoding`), in the pool as here."""
        decoding = decoding or self.decoding
        if utterances and self._pool_due():
            try:
                heard, settings = self._from_pool(utterances, decoding)
            except PoolError as e:
                self._failed(e)
            else:
                self._answered(settings)
                with self._lock:
                    self.stats.pool += len(utterances)
                return heard
        heard = super().transcribe(utterances, decoding)
        with self._lock:
            self.stats.local += len(utterances)
        return heard

    def _pool_due(self) -> bool:
        with self._lock:
            return (self._down_since is None
                    or time.monotonic() - self._down_since >= self.retry_s)

    def _from_pool(self, utterances: Sequence[Utterance], decoding: Decoding
                   ) -> tuple[list[Transcript], dict[str, Any]]:
        """The pool's transcripts of `utterances`, and its settings."""
        try:
            answer = self._client.post(self.address, content=encode_request(utterances, decoding),
                                       headers={"content-type": CONTENT_TYPE})
            answer.raise_for_status()
            body = answer.json()
            heard = [Transcript.from_json(t) for t in body["transcripts"]]
            used = decoding_from_json(body["decoding"])
            settings = _settings(body)
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as e:
            raise PoolError(f"{type(e).__name__}: {e}") from e
        if len(heard) != len(utterances):
            raise PoolError(f"{len(utterances)} 段语音只得到 {len(heard)} 段转写")
        if used != decoding:  # a pool of another version, which decodes its own way
            raise PoolError(f"识别池未按本站点的提示词与 beam（{decoding.beam_size}）解码"
                            f"（用了 beam {used.beam_size}）")
        return heard, settings

    def _failed(self, error: Exception, at_start: bool = False) -> None:
        with self._lock:
            self.stats.failures += not at_start
            was_up = self._down_since is None
            self._down_since = time.monotonic()
            self._set_on_pool(False)
        message = (f"识别池 {self.address} 不可用（{error}），改用本站点的识别模型，"
                   f"{self.retry_s:.0f} 秒后再试")
        if was_up or at_start:
            logger.warning("recognition pool %s unavailable (%s): transcribing here, retrying "
                           "every %.0f s", self.address, error, self.retry_s)
        self._last = (HealthState.DEGRADED, message)
        self._health.report(*self._last)

    def _answered(self, settings: dict[str, Any]) -> None:
        differs = differences(settings, self.options)
        with self._lock:
            was_down, self._down_since = self._down_since is not None, None
            self._set_on_pool(True)
            changed = differs != self.stats.differs
            self.stats.settings, self.stats.differs = settings, differs
        if was_down:
            logger.info("recognition pool %s answers again", self.address)
        if changed and differs:
            logger.warning("recognition pool %s runs another model than this site's own, which "
                           "transcribes while the pool is down, so words may differ then: %s",
                           self.address, "; ".join(differs))
        note = f"（本站点的备用模型与之不同：{'；'.join(differs)}）" if differs else ""
        self._last = (HealthState.OK, f"识别池 {self.address} 可用{note}")
        self._health.report(*self._last)

    def _set_on_pool(self, on_pool: bool) -> None:
        """Lock held."""
        if on_pool != self.stats.on_pool:
            self.stats.on_pool, self.stats.since = on_pool, datetime.now(UTC)


def _settings(answer: dict[str, Any]) -> dict[str, Any]:
    """The pool's settings in one of its answers (KeyError, TypeError: none there)."""
    settings = answer["pool"]
    for key in ("model", "compute_type"):
        if not isinstance(settings[key], str):
            raise TypeError(f"pool {key} {settings[key]!r}")
    return dict(settings)
