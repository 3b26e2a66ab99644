"""The site file: one YAML that says what `etiquette run` watches and where incidents go.

A center, its windows (each with a microphone — or a recording to replay — and optionally a
camera with the staff seat's region), the recogniser settings, the supervision API. Validated
at start-up: a bad file fails at once with the key (and line) that is wrong. Relative paths are
relative to the site file, so a site folder can be moved as a whole.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, TypeGuard

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from etiquette.core.presence.roi import Roi
from etiquette.core.rules import DocumentError, Problem, line_of, load_yaml_model
from etiquette.speech.recogniser import RecogniserOptions


class SiteError(DocumentError):
    """The site file is missing, not YAML, or says something invalid (the message says where;
    `problems` as data, for the command to word them). `document` is set where the problems are
    in a rules file the site names, not in the site file."""

    document: Path | None = None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Center(_Strict):
    code: str = Field(min_length=1, description="the center's code in the supervision service")
    name: str = ""


class Channels(_Strict):
    """Which input channel is which microphone; a window with one microphone names only staff."""

    staff: int = Field(0, ge=0)
    citizen: int | None = Field(1, ge=0)

    @model_validator(mode="after")
    def _distinct(self) -> Channels:
        if self.citizen is not None and self.citizen == self.staff:
            raise PydanticCustomError("same_channel", "staff and citizen are both channel "
                                      "{channel}", {"channel": self.staff})
        return self

    @property
    def order(self) -> list[int]:
        """Input channels in the pipeline's order: staff first, then citizen."""
        return [self.staff] if self.citizen is None else [self.staff, self.citizen]


class AudioInput(_Strict):
    """A microphone (`device`) or a recording replayed at real time (`file`), not both."""

    device: str | int | None = Field(None, description="sounddevice name or index, e.g. pulse")
    file: Path | None = Field(None, description="a recording to replay at real time (demo, tests)")
    loop: bool = Field(False, description="replay the file again and again")
    loop_gap_s: float = Field(60.0, ge=0, description="silence between replays")
    speed: float = Field(1.0, gt=0, le=32, description="replay this many times faster than "
                                                       "real time (soak tests)")
    start_s: float = Field(0.0, ge=0, description="begin the replay this far into the file (and "
                           "its loop gap): replayed windows that start at once then do not all "
                           "begin a session in the same second")
    device_channels: int | None = Field(None, ge=1, le=64,
                                        description="channels to open (default: enough for these)")
    channels: Channels = Channels()

    @model_validator(mode="after")
    def _one_source(self) -> AudioInput:
        if (self.device is None) == (self.file is None):
            raise PydanticCustomError(
                "device_or_file", "give either device (a microphone) or file (a recording to "
                "replay)")
        if self.device is not None and self.start_s:
            raise PydanticCustomError("start_s_for_file",
                                      "start_s is for a replayed file, not a microphone")
        needed = max(self.channels.order) + 1
        if self.device_channels is not None and self.device_channels < needed:
            raise PydanticCustomError(
                "too_few_channels", "device_channels {given} is fewer than channel {channel} "
                "needs", {"given": self.device_channels, "channel": needed - 1})
        return self

    @property
    def open_channels(self) -> int:
        return self.device_channels or max(self.channels.order) + 1


class CameraInput(_Strict):
    source: str | int = Field(description="camera index, rtsp:// / http:// / udp:// URL, or a file")
    loop: bool = Field(False, description="a file: replay it again and again (the demo)")
    roi: tuple[tuple[float, float], ...] | None = Field(
        None, description="staff seat polygon, fractions of the frame; default the whole frame")

    @model_validator(mode="after")
    def _loop_a_file(self) -> CameraInput:
        if self.loop and not _is_file(self.source):
            raise PydanticCustomError(
                "loop_for_file", "loop is for a file replayed as a camera, not a live camera")
        return self

    @field_validator("roi")
    @classmethod
    def _polygon(cls, value: tuple[tuple[float, float], ...] | None
                 ) -> tuple[tuple[float, float], ...] | None:
        if value is not None:
            try:
                Roi(value)
            except ValueError as e:
                raise PydanticCustomError("bad_roi", "{error}", {"error": str(e)}) from e
        return value


class Window(_Strict):
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$",
                    description="the window's code in the supervision service")
    staff: tuple[str, ...] = Field((), description="工号 of the staff on duty (for the log)")
    audio: AudioInput | None = None
    camera: CameraInput | None = None

    @model_validator(mode="after")
    def _watched(self) -> Window:
        if self.audio is None and self.camera is None:
            raise PydanticCustomError("window_needs_input",
                                      "a window needs audio, camera or both")
        return self


class EmbeddedService(_Strict):
    """The supervision service started inside `etiquette run` (demo, trials): SQLite under
    `data_dir`, the demo master data, a demo admin with a new random password."""

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    data_dir: Path = Path("service")


class Supervision(_Strict):
    url: str | None = Field(None, description="supervision API, e.g. http://127.0.0.1:8000")
    api_key: str | None = Field(None, description="the pipeline's API key (prefer api_key_env)")
    api_key_env: str | None = Field(None, description="environment variable holding the key")
    embedded: EmbeddedService | None = Field(None, description="run the service in this process")
    heartbeat_s: float = Field(5.0, ge=0.5, le=300,
                               description="send each window's state (大厅态势) this often")

    @model_validator(mode="after")
    def _keyed(self) -> Supervision:
        if self.url is not None and self.embedded is not None:
            raise PydanticCustomError(
                "url_or_embedded", "give url (a running service) or embedded, not both")
        if self.url is not None and self.api_key is None and self.api_key_env is None:
            raise PydanticCustomError("url_needs_key",
                                      "a supervision url needs api_key or api_key_env")
        return self

    def key(self) -> str:
        if self.api_key is not None:
            return self.api_key
        value = os.environ.get(self.api_key_env or "")
        if not value:
            raise SiteError(f"站点配置的 supervision.api_key_env 指定的环境变量 "
                            f"{self.api_key_env} 未设置，无法取得流水线密钥")
        return value


class Recognition(_Strict):
    model: str = "whisper-base"
    device: str = Field("cpu", pattern=r"^(cpu|cuda|auto)$")
    compute_type: str = "int8"
    cpu_threads: int = Field(0, ge=0, description="CTranslate2 threads per worker (0: the "
                             "machine's cores shared among the workers)")
    num_workers: int = Field(2, ge=1, description="recogniser workers: while one decodes, another "
                             "takes what arrived meanwhile (2 halved the p95 latency of 16 "
                             "windows on 2 cores, benchmarks/optimisations.md)")
    beam_size: int = Field(5, ge=1, le=10)
    batch_size: int = Field(8, ge=1, le=64)
    rule_prompt: bool = Field(RecogniserOptions.rule_prompt, description="bias decoding toward "
                              "the rules' phrases (read at start-up)")
    backlog_memory_s: float = Field(600.0, gt=0, description="queued speech kept in memory")
    lag_warn_s: float = Field(10.0, gt=0, description="report when transcription falls behind")
    backend: Literal["local", "ray"] = Field("local", description="ray: transcribe on a shared "
                                             "pool (etiquette recognition-pool serve), with this "
                                             "model only while the pool is down")
    address: str | None = Field(None, pattern=r"^https?://", description="the pool's URL, e.g. "
                                "http://pool-host:8000/recognise")
    pool_timeout_s: float = Field(60.0, gt=0, description="a pool call slower than this is "
                                  "transcribed here")
    pool_retry_s: float = Field(30.0, gt=0, description="after a pool failure, try it again "
                                "this much later")

    @model_validator(mode="after")
    def _pool_address(self) -> Recognition:
        if self.backend == "ray" and self.address is None:
            raise PydanticCustomError("pool_needs_address", "backend ray needs the pool's address")
        return self

    def options(self) -> RecogniserOptions:
        return RecogniserOptions(model=self.model, device=self.device,
                                 compute_type=self.compute_type, cpu_threads=self.cpu_threads,
                                 num_workers=self.num_workers, beam_size=self.beam_size,
                                 batch_size=self.batch_size, rule_prompt=self.rule_prompt)


class Presence(_Strict):
    rules: Path | None = Field(None, description="presence rules (default rules/presence.yaml)")
    absence_threshold_s: float | None = Field(None, gt=0,
                                              description="override the allowed absence")
    threads: int = Field(1, ge=1)


class Control(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(9108, ge=0, le=65535, description="metrics, health and 叫号 (0: any free)")


class Site(_Strict):
    center: Center
    windows: tuple[Window, ...] = Field(min_length=1)
    supervision: Supervision = Supervision()
    data_dir: Path = Field(Path("live-data"), description="outbox, evidence and spool")
    rules: Path | None = Field(None, description="phrase rules (default rules/appendix_b.yaml)")
    rules_from_service: bool = Field(False, description="run with the rules in force in the "
                                                       "supervision service (edited by admins)")
    checks: Path | None = Field(None, description="checks beyond phrases (default "
                                                  "rules/checks.yaml)")
    recognition: Recognition = Recognition()
    presence: Presence = Presence()
    control: Control = Control()

    @model_validator(mode="after")
    def _rules_source(self) -> Site:
        if self.rules_from_service and self.rules is not None:
            raise PydanticCustomError(
                "rules_or_service", "give rules (a file) or rules_from_service, not both")
        if self.rules_from_service and self.supervision.url is None \
                and self.supervision.embedded is None:
            raise PydanticCustomError(
                "rules_from_service_needs_url",
                "rules_from_service needs a supervision url (or embedded)")
        return self

    @field_validator("windows")
    @classmethod
    def _unique(cls, value: tuple[Window, ...]) -> tuple[Window, ...]:
        seen: set[str] = set()
        for w in value:
            if w.id in seen:
                raise PydanticCustomError("duplicate_window_id", "window id {window_id} "
                                          "appears twice", {"window_id": repr(w.id)})
            seen.add(w.id)
        return value

    def window(self, window_id: str) -> Window:
        for w in self.windows:
            if w.id == window_id:
                return w
        raise KeyError(window_id)


def _resolve(site: Site, base: Path) -> Site:
    """Paths in the file are relative to the file."""
    def rel(p: Path | None) -> Path | None:
        return p if p is None or p.is_absolute() else base / p

    windows = []
    for w in site.windows:
        audio = w.audio
        if audio is not None and audio.file is not None:
            audio = audio.model_copy(update={"file": rel(audio.file)})
        camera = w.camera
        if camera is not None and _is_file(camera.source):
            camera = camera.model_copy(update={"source": str(rel(Path(camera.source)))})
        windows.append(w.model_copy(update={"audio": audio, "camera": camera}))
    supervision = site.supervision
    if supervision.embedded is not None:
        supervision = supervision.model_copy(update={"embedded": supervision.embedded.model_copy(
            update={"data_dir": rel(supervision.embedded.data_dir)})})
    return site.model_copy(update={
        "windows": tuple(windows), "data_dir": rel(site.data_dir), "rules": rel(site.rules),
        "checks": rel(site.checks),
        "supervision": supervision,
        "presence": site.presence.model_copy(update={"rules": rel(site.presence.rules)})})


def load_site(path: Path) -> Site:
    """Read and check a site file; files it names to replay must exist.

    Raises:
      SiteError: with the file, the key path and what is wrong.
    """
    site = _resolve(load_yaml_model(path, Site, SiteError, "site"), path.resolve().parent)
    missing: list[tuple[tuple[int | str, ...], str]] = []
    for i, w in enumerate(site.windows):
        if w.audio is not None and w.audio.file is not None and not w.audio.file.is_file():
            missing.append((("windows", i, "audio", "file"), str(w.audio.file)))
        if (w.camera is not None and _is_file(w.camera.source)
                and not Path(str(w.camera.source)).is_file()):
            missing.append((("windows", i, "camera", "source"), str(w.camera.source)))
    if missing:
        text = path.read_text(encoding="utf-8")
        problems = [Problem(loc=loc, path=f"windows[{loc[1]}] ({site.windows[int(loc[1])].id})"
                            f".{loc[2]}.{loc[3]}", line=line_of(text, loc), type="no_such_file",
                            message=f"no such file: {file}", context={"file": file})
                    for loc, file in missing]
        error = SiteError("\n".join([f"{path}: invalid site",
                                     *(f"  {p.path}: {p.message}" for p in problems)]))
        error.problems = tuple(problems)
        raise error
    _check_rules(site)
    return site


def _check_rules(site: Site) -> None:
    """The rule files the site names are read now, so that their mistakes stop the start too."""
    from etiquette.core.checks.rules import (
        DEFAULT_CHECK_RULES,
        CheckRulesError,
        load_check_rules,
    )
    from etiquette.core.presence.rules import (
        DEFAULT_PRESENCE_RULES,
        PresenceRulesError,
        load_presence_rules,
    )
    from etiquette.core.rules import DEFAULT_RULES, RulesError, load_rules

    try:
        load_rules(site.rules)
        load_check_rules(site.checks)
        if any(w.camera is not None for w in site.windows):
            load_presence_rules(site.presence.rules)
    except (RulesError, CheckRulesError, PresenceRulesError) as e:
        error = SiteError(str(e))
        error.problems = e.problems
        error.document = (site.rules or DEFAULT_RULES if isinstance(e, RulesError)
                          else site.checks or DEFAULT_CHECK_RULES
                          if isinstance(e, CheckRulesError)
                          else site.presence.rules or DEFAULT_PRESENCE_RULES)
        raise error from e


def _is_file(source: str | int) -> TypeGuard[str]:
    return isinstance(source, str) and "://" not in source and not source.isdigit()
