"""Prometheus metrics of a running site, read from the stages' own counters at scrape time.

Nothing in the hot path touches Prometheus: each scrape asks the windows, the recogniser and
the outbox what they know (a custom collector), so a stage keeps one set of numbers and the
metrics can never drift from the logs. Process memory and CPU come from prometheus-client's
own process collector.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from etiquette.live.engine import LiveSite

PRESENCE_VALUES = {"present": 1.0, "absent": 0.0, "unknown": -1.0}


class SiteCollector(Collector):
    def __init__(self, site: LiveSite) -> None:
        self.site = site

    def collect(self) -> Iterator[Metric]:
        level = GaugeMetricFamily("etiquette_audio_level_dbfs",
                                  "RMS level of the last audio block, loudest channel",
                                  labels=["window"])
        overflow = CounterMetricFamily("etiquette_audio_lost_frames",
                                       "audio frames lost (reader behind) or filled (device down)",
                                       labels=["window", "why"])
        utterances = CounterMetricFamily("etiquette_utterances", "utterances cut",
                                         labels=["window", "speaker"])
        incidents = CounterMetricFamily("etiquette_incidents", "incidents emitted",
                                        labels=["window", "kind"])
        lag = GaugeMetricFamily("etiquette_transcription_lag_seconds",
                                "end of the last transcribed utterance to its transcript",
                                labels=["window"])
        queued = GaugeMetricFamily("etiquette_window_queue_depth",
                                   "utterances of the window waiting for the recogniser",
                                   labels=["window"])
        session = GaugeMetricFamily("etiquette_session_open", "1 while a service session is open",
                                    labels=["window"])
        fps = GaugeMetricFamily("etiquette_camera_fps", "camera frames analysed per second",
                                labels=["window"])
        presence = GaugeMetricFamily("etiquette_presence_state",
                                     "staff at the seat: 1 present, 0 absent, -1 unknown",
                                     labels=["window"])
        up = GaugeMetricFamily("etiquette_input_up", "1 while the input works",
                               labels=["window", "input"])
        for w in self.site.windows.values():
            stats = w.audio_stats
            if stats is not None:
                level.add_metric([w.id], stats.level_dbfs)
                overflow.add_metric([w.id, "reader_behind"], stats.overflow_frames)
                overflow.add_metric([w.id, "device_down"], stats.gap_frames)
                up.add_metric([w.id, "audio"], 0.0 if stats.state == "down" else 1.0)
            if w.monitor is not None:
                ws = w.monitor.stats
                for speaker, n in ws.utterances.items():
                    utterances.add_metric([w.id, speaker], n)
                for kind, n in ws.incidents.items():
                    incidents.add_metric([w.id, kind], n)
                lag.add_metric([w.id], ws.transcription_lag_s)
                queued.add_metric([w.id], ws.outstanding)
                session.add_metric([w.id], 1.0 if ws.session_open else 0.0)
            if w.presence is not None:
                for kind, n in w.presence_incidents.items():
                    incidents.add_metric([w.id, kind], n)
                fps.add_metric([w.id], w.presence.fps)
                presence.add_metric([w.id], PRESENCE_VALUES[w.presence.state.value])
                up.add_metric([w.id, "camera"], 0.0 if w.presence.state.value == "unknown" else 1.0)
        yield from (level, overflow, utterances, incidents, lag, queued, session, fps, presence, up)

        r = self.site.recogniser
        yield GaugeMetricFamily("etiquette_recogniser_backlog_seconds",
                                "speech not transcribed yet (queued or being decoded)",
                                value=r.backlog_s)
        yield GaugeMetricFamily("etiquette_recogniser_lag_seconds",
                                "age of the oldest utterance not transcribed yet", value=r.lag_s)
        yield CounterMetricFamily("etiquette_recogniser_audio_seconds", "speech transcribed",
                                  value=r.stats.audio_s)
        yield CounterMetricFamily("etiquette_recogniser_busy_seconds", "time spent transcribing",
                                  value=r.stats.busy_s)
        yield CounterMetricFamily("etiquette_recogniser_spooled", "utterances queued on disk",
                                  value=r.stats.spooled)
        yield from self._backend()
        if self.site.outbox is not None:
            o = self.site.outbox.stats
            yield GaugeMetricFamily("etiquette_outbox_pending", "incidents not yet acknowledged",
                                    value=self.site.outbox.pending())
            yield GaugeMetricFamily("etiquette_outbox_held",
                                    "incidents the outbox's disk refused, held in memory",
                                    value=self.site.outbox.held())
            delivered = CounterMetricFamily("etiquette_outbox_delivered",
                                            "incidents the service acknowledged",
                                            labels=["result"])
            delivered.add_metric(["created"], o.delivered)
            delivered.add_metric(["already_stored"], o.already)
            delivered.add_metric(["rejected"], o.rejected)
            yield delivered


    def _backend(self) -> Iterator[Metric]:
        """Where speech is transcribed: this site's model, or a shared pool (and whether the
        site is on it now or on its own model, the pool's fallback)."""
        pool = self.site.pool
        info = GaugeMetricFamily("etiquette_recogniser_backend_info",
                                 "the recognition backend (local, or ray: a shared pool)",
                                 labels=["backend", "address"])
        by = CounterMetricFamily("etiquette_recogniser_utterances",
                                 "utterances transcribed, by the shared pool or by this site",
                                 labels=["by"])
        if pool is None:
            info.add_metric(["local", ""], 1.0)
            by.add_metric(["pool"], 0)
            by.add_metric(["local"], self.site.recogniser.stats.utterances)
            yield from (info, by)
            return
        s = pool.status()
        info.add_metric(["ray", pool.address], 1.0)
        by.add_metric(["pool"], s.pool)
        by.add_metric(["local"], s.local)
        yield from (info, by)
        yield GaugeMetricFamily("etiquette_recogniser_on_pool",
                                "1 while the shared pool transcribes, 0 while this site's own "
                                "model does (the pool down or failing)", value=float(s.on_pool))
        yield CounterMetricFamily("etiquette_recogniser_pool_failures",
                                  "calls to the shared pool that failed", value=s.failures)


def make_registry(site: LiveSite) -> tuple[CollectorRegistry, Histogram]:
    """The site's registry and its latency histogram (observed as incidents are emitted)."""
    registry = CollectorRegistry()
    registry.register(SiteCollector(site))
    ProcessCollector(registry=registry)
    latency = Histogram("etiquette_incident_latency_seconds",
                        "end of the utterance of a spoken phrase to its incident being queued "
                        "in the outbox (stage=queued) and stored by the service (stage=stored)",
                        ["kind", "stage"], registry=registry,
                        buckets=(0.5, 1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 60, 120))
    return registry, latency
