"""The shared recognition pool: the recogniser as a Ray Serve deployment many halls share.

Each replica holds one loaded Whisper model. Requests (one site's batch of utterances each,
`speech.remote_recogniser`) that arrive together are joined by Serve's request batching into
one recogniser call per decoding (a site's prompt and beam travel with its request), so the
utterances of many halls fill the same 30 s inputs, each decoded as its site would, and the
answers are split back per request. Sites reach it over HTTP through Serve's proxy, at `ROUTE`;
a GET there (and every answer) gives the replica's model settings (`settings`).
Imported only by `etiquette recognition-pool`: nothing of Ray is loaded otherwise.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from ray import serve
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from etiquette.cluster import ClusterError, connect
from etiquette.core.records import Transcript, Utterance
from etiquette.speech.recogniser import Decoding, Recogniser, RecogniserOptions
from etiquette.speech.remote_recogniser import decode_request, decoding_to_json

logger = logging.getLogger("etiquette.recognition_pool")

APP = "recognition-pool"
ROUTE = "/recognise"
__all__ = ["ClusterError", "deploy", "undeploy", "wait_forever"]
# Requests joined into one call: 4 sites' batches (each up to the recogniser's 8 inputs) keep a
# call within seconds on a GPU; the wait is short against the seconds a call takes.
MAX_REQUESTS_PER_CALL = 4
BATCH_WAIT_S = 0.05


class PoolReplica:
    """One replica: one loaded recogniser, fed by the requests Serve batches for it."""

    def __init__(self, options: RecogniserOptions) -> None:
        self.recogniser = Recogniser(options)
        self.settings = settings(options)

    @serve.batch(max_batch_size=MAX_REQUESTS_PER_CALL, batch_wait_timeout_s=BATCH_WAIT_S)
    async def transcribe(self, requests: list[tuple[list[Utterance], Decoding]]
                         ) -> list[list[Transcript]]:
        """Each request's transcripts: one recogniser call over the utterances of all the
        requests that decode alike (the same prompt and beam), one after another."""
        alike: dict[Decoding, list[int]] = {}
        for k, (_, decoding) in enumerate(requests):
            alike.setdefault(decoding, []).append(k)
        out: list[list[Transcript]] = [[] for _ in requests]
        for decoding, members in alike.items():
            joined = [u for k in members for u in requests[k][0]]
            # In a thread: the replica's event loop keeps taking requests for the next call.
            heard = iter(await asyncio.to_thread(self.recogniser.transcribe, joined, decoding))
            for k in members:
                out[k] = [next(heard) for _ in requests[k][0]]
        return out

    async def __call__(self, request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse({"pool": self.settings})
        try:
            utterances, decoding = decode_request(await request.body())
        except (ValueError, KeyError, TypeError, OSError) as e:
            return JSONResponse({"detail": f"请求不是一组语音（{e}）"}, status_code=400)
        transcripts = await self.transcribe((utterances, decoding)) if utterances else []
        return JSONResponse({"transcripts": [t.to_json() for t in transcripts],
                             "decoding": decoding_to_json(decoding), "pool": self.settings})


def settings(options: RecogniserOptions) -> dict[str, Any]:
    """What a site needs to know of a replica's model (the prompt and beam are the site's)."""
    return {"model": options.model, "device": options.device,
            "compute_type": options.compute_type, "batch_size": options.batch_size,
            "cpu_threads": options.cpu_threads}


# Many sites' requests wait on a replica while it decodes; Serve's default of 5 would refuse more.
RecognitionPool = serve.deployment(name=APP, max_ongoing_requests=64)(PoolReplica)


def deploy(address: str, replicas: int, threads: int, options: RecogniserOptions,
           host: str, port: int) -> str:
    """Deploy the pool on the cluster at `address` (as `etiquette batch --cluster` names one)
    with `replicas` replicas of `threads` CPUs each; returns the URL sites send to.

    Raises:
      ClusterError: the cluster cannot be reached.
    """
    connect(address)
    serve.start(http_options={"host": host, "port": port})
    serve.run(RecognitionPool.options(num_replicas=replicas, ray_actor_options={
        "num_cpus": threads}).bind(options), name=APP, route_prefix=ROUTE)
    return f"http://{host}:{port}{ROUTE}"


def undeploy(address: str) -> None:
    """Remove the pool from the cluster at `address` (sites fall back to their own models).

    Raises:
      ClusterError: the cluster cannot be reached.
    """
    connect(address)
    serve.delete(APP)


def wait_forever() -> None:
    """Keep this process (and so a `local` cluster with the pool) alive until interrupted."""
    threading.Event().wait()
