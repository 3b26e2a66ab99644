"""Batch analysis of recorded sessions: files and folders in, one JSON line per incident out,
then one for the recording's service session (`kind` "session")."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from etiquette.pipeline import Analysis, RecordingPipeline, SpeechPipeline
from etiquette.sinks import FILE_ERROR, Sink, incomplete_record
from etiquette.speech.audio import MEDIA_SUFFIXES, AudioError
from etiquette.vision.frames import VideoError

logger = logging.getLogger("etiquette.batch")


@dataclass(frozen=True)
class FileError:
    source: str
    error: str

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "kind": FILE_ERROR, "error": self.error}


def incomplete_line(analysis: Analysis) -> dict[str, Any] | None:
    """The line saying that `analysis`'s file was cut short or damaged (None: complete): its
    incidents are what the audio and pictures that were there hold, and `not_judged` the kinds
    of incident left unjudged for want of the rest."""
    if analysis.complete:
        return None
    return incomplete_record(analysis.source, analysis.damages, analysis.duration_s,
                             analysis.not_judged)


@dataclass
class BatchReport:
    analyses: list[Analysis] = field(default_factory=list)
    errors: list[FileError] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def audio_s(self) -> float:
        return sum(a.duration_s for a in self.analyses)

    @property
    def incomplete(self) -> list[Analysis]:
        """Files analysed only as far as their audio or pictures went (cut short or damaged)."""
        return [a for a in self.analyses if not a.complete]

    @property
    def failed(self) -> bool:
        """Whether anything failed: a file not analysed, or analysed only in part."""
        return bool(self.errors or self.incomplete)

    @property
    def incidents_by_kind(self) -> Counter[str]:
        return Counter(i.kind.value for a in self.analyses for i in a.incidents)


def collect(paths: Iterable[str | Path]) -> tuple[list[Path], list[FileError]]:
    """Media files named or found (recursively) under folders, in a stable order.

    A folder contributes only files with a media suffix; a file named outright is always
    tried, unless its suffix says it cannot be media.
    """
    files: list[Path] = []
    errors: list[FileError] = []
    for given in paths:
        p = Path(given)
        if p.is_dir():
            files += sorted(f for f in p.rglob("*")
                            if f.is_file() and f.suffix.lower() in MEDIA_SUFFIXES)
        elif not p.exists():
            errors.append(FileError(str(p), "文件不存在 (no such file)"))
        elif p.suffix.lower() not in MEDIA_SUFFIXES:
            errors.append(FileError(str(p), f"不支持的文件类型 {p.suffix or '(无扩展名)'} "
                                             f"(unsupported file type)"))
        else:
            files.append(p)
    return files, errors


Result = Analysis | FileError


def analyse_file(pipeline: SpeechPipeline | RecordingPipeline, path: Path,
                 window_id: str | None = None, recorded_at: datetime | None = None) -> Result:
    """One file's analysis, or why it failed: a file that fails must not end the batch."""
    try:
        return pipeline.analyse(path, window_id, recorded_at)
    except (AudioError, VideoError) as e:
        return FileError(str(path), str(e))
    except Exception as e:  # noqa: BLE001 - one bad file must not end a batch of thousands
        logger.exception("failed on %s", path)
        return FileError(str(path), f"内部错误 (internal error): {type(e).__name__}: {e}")


def analysed_here(pipeline: SpeechPipeline | RecordingPipeline, files: list[Path],
                  jobs: int = 1, window_id: str | None = None,
                  recorded_at: datetime | None = None) -> Iterator[tuple[Path, Result]]:
    """Each of `files` with its result, analysed in this process `jobs` at a time, as each
    finishes."""
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(analyse_file, pipeline, f, window_id, recorded_at): f
                   for f in files}
        for future in as_completed(futures):
            yield futures[future], future.result()


def run_batch(pipeline: SpeechPipeline | RecordingPipeline, files: list[Path],
              errors: list[FileError], sink: Sink, jobs: int = 1,
              window_id: str | None = None, recorded_at: datetime | None = None,
              on_file: Callable[[str, Result], None] | None = None,
              transcripts: Sink | None = None) -> BatchReport:
    """Analyse `files` (from `collect`), `jobs` at a time; a file that fails is reported and the
    rest go on. See `write_batch`."""
    return write_batch(analysed_here(pipeline, files, jobs, window_id, recorded_at), errors,
                       sink, on_file, transcripts)


def write_batch(results: Iterable[tuple[Path, Result]], errors: list[FileError], sink: Sink,
                on_file: Callable[[str, Result], None] | None = None,
                transcripts: Sink | None = None) -> BatchReport:
    """Write files' `results` (here or on a cluster) as they come: `sink` gets each file's
    incident lines (or its error line), then, for a file cut short or damaged, its
    `incomplete_line`; `errors` are the paths `collect` already refused; `transcripts`, if
    given, receives every transcript for analysts."""
    started = time.perf_counter()
    report = BatchReport(errors=list(errors))
    for e in errors:
        sink.write([e.to_json()])
        if on_file:
            on_file(e.source, e)
    for path, result in results:
        if isinstance(result, FileError):
            report.errors.append(result)
            sink.write([result.to_json()])
        else:
            report.analyses.append(result)
            incomplete = incomplete_line(result)
            # The session after its incidents: the service links those it names.
            sink.write([*(i.to_json() for i in result.incidents),
                        *([result.session.to_json()] if result.session else []),
                        *([incomplete] if incomplete else [])])
            if transcripts:
                transcripts.write(t.to_json() for t in result.transcripts)
        if on_file:
            on_file(str(path), result)
    report.analyses.sort(key=lambda a: a.source)
    report.wall_s = time.perf_counter() - started
    return report
