"""`etiquette`: the command line, a thin face over the pipeline."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from etiquette.batch import BatchReport, Result, analysed_here, collect, write_batch
from etiquette.core.checks.rules import DEFAULT_CHECK_RULES, CheckRulesError, load_check_rules
from etiquette.core.presence import PresenceRulesError, Roi, load_pauses, load_presence_rules
from etiquette.core.presence.records import DeclaredPause
from etiquette.core.presence.rules import DEFAULT_PRESENCE_RULES
from etiquette.core.rules import DEFAULT_RULES, NO_RULE, RulesError, load_rules
from etiquette.live.cli import run
from etiquette.models import DEFAULT_MODELS_DIR, ModelError, ensure_model, load_manifest
from etiquette.pipeline import Analysis, PipelineOptions, RecordingPipeline, SpeechPipeline
from etiquette.practice import practice_checker
from etiquette.service.cli import serve_command, users_app
from etiquette.service.labels import KIND_NAMES
from etiquette.service.report_cli import report
from etiquette.service.services import problems
from etiquette.sinks import Sink
from etiquette.sinks.http import SESSIONS_PATH, HttpSink, PostReport
from etiquette.sinks.jsonl import JsonlSink
from etiquette.sinks.tee import TeeSink
from etiquette.speech import devices as audio_devices
from etiquette.speech.audio import VIDEO_SUFFIXES
from etiquette.speech.recogniser import RecogniserOptions, threads_per_job
from etiquette.speech.segmenter import SegmenterOptions
from etiquette.vision import devices as video_devices
from etiquette.vision.detector import DetectorError
from etiquette.vision.watcher import PresenceOptions

app = typer.Typer(help="etiquette：政务服务窗口服务礼仪监测（附录B 服务礼仪）",
                  no_args_is_help=True, add_completion=False)
models_app = typer.Typer(help="模型：下载、组装、校验", no_args_is_help=True)
rules_app = typer.Typer(help="规则：检查规则文件", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(rules_app, name="rules")
app.command("serve")(serve_command(practice_checker))
app.command("run")(run)
app.command("report")(report)
app.add_typer(users_app, name="users")

# Logs and tables piped to a file should not be cut at 80 columns.
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def _logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not verbose:
        logging.getLogger("faster_whisper").setLevel(logging.WARNING)


def _fail(message: str, code: int = 2) -> None:
    err.print(f"[red]错误：[/red]{message}", highlight=False)
    raise typer.Exit(code)


@app.command(help="分析录音录像：转写普通话，按附录B 规则检出禁用语、缺少迎声/送声；视频另查离岗。"
                  "输出评分事件。")
def batch(
    paths: Annotated[list[Path], typer.Argument(help="音频/视频文件或文件夹（递归）")],
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="事件输出 JSONL 文件（默认标准输出）")] = None,
    transcripts: Annotated[Path | None, typer.Option(
        help="另存全部转写文本的 JSONL 文件（供分析）")] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="同时处理的文件数")] = 1,
    window: Annotated[str | None, typer.Option(help="窗口编号（默认取文件名）")] = None,
    staff_channel: Annotated[int, typer.Option(
        min=0, max=1, help="立体声中工作人员麦克风的声道")] = 0,
    model: Annotated[str, typer.Option(
        help="模型：manifest 中的名称、faster-whisper 模型目录或名称")] = "whisper-base",
    device: Annotated[str, typer.Option(help="cpu 或 cuda")] = "cpu",
    compute_type: Annotated[str, typer.Option(
        help="int8、int8_float16、float16、float32")] = "int8",
    beam_size: Annotated[int, typer.Option(min=1, help="解码束宽")] = 5,
    # One name, no --no-… twin: the twin widened the option column of `batch --help` until
    # other options' names were cut off at 80 columns.
    rule_prompt: Annotated[bool, typer.Option(
        "--rule-prompt", help="以规则中的用语提示识别模型，使其更易听出这些词（默认关闭）"),
    ] = RecogniserOptions.rule_prompt,
    threads: Annotated[int, typer.Option(min=0, help="每个任务的 CPU 线程数（0：自动）")] = 0,
    part_inputs: Annotated[int, typer.Option(
        min=1, help="长录音的语音按静音分段转写，每段至多这么多个 30 秒输入（默认 32，"
                    "约 16 分钟语音）；--cluster 时各段分给不同分析进程。同一值下，"
                    "单机 --threads 1 与集群（每进程 1 线程）结果相同")
    ] = RecogniserOptions.part_inputs,
    rules: Annotated[Path | None, typer.Option(
        help="规则文件（默认 rules/appendix_b.yaml）")] = None,
    checks: Annotated[Path | None, typer.Option(
        help="用语之外的检查规则文件（默认 rules/checks.yaml：问有答声、抢话等）")] = None,
    recorded_at: Annotated[datetime | None, typer.Option(
        help="录音开始时间（UTC）；默认由文件修改时间推算")] = None,
    absence_threshold: Annotated[float | None, typer.Option(
        min=0.001, help="视频：离岗判定时长（秒），覆盖在岗规则（默认 900）")] = None,
    presence_rules: Annotated[Path | None, typer.Option(
        help="在岗规则文件（默认 rules/presence.yaml）")] = None,
    roi: Annotated[str | None, typer.Option(
        help="视频：工作人员座位区域，多边形顶点为画面宽高的比例 "
             "\"x,y x,y x,y …\"（默认整个画面）")] = None,
    pauses: Annotated[Path | None, typer.Option(
        help="视频：去向牌记录 YAML（窗口、状态、起止时间）")] = None,
    evidence_dir: Annotated[Path | None, typer.Option(
        help="证据文件目录：离岗截图，及给出此项或 --post 时的语音片段"
             "（默认 --out 文件旁的 <名称>_evidence/，否则 ./evidence/）")] = None,
    post: Annotated[str | None, typer.Option(
        "--post", help="把每个事件连同证据（录音片段、截图）发送到监督考核服务，"
                       "如 http://127.0.0.1:8000；"
                       "给出 --post 或 --evidence-dir 时为语音事件剪取录音片段")] = None,
    api_key: Annotated[str | None, typer.Option(
        "--api-key", envvar="ETIQUETTE_API_KEY",
        help="--post 用的流水线密钥（建议用环境变量）")] = None,
    cluster: Annotated[str | None, typer.Option(
        "--cluster", help="在 Ray 集群上分析（须安装 etiquette[cluster]）：local 在本机启动，"
                          "auto 加入已运行的集群（RAY_ADDRESS），ray://主机:端口 以客户端连接；"
                          "每个分析进程占 --threads 个 CPU（默认 1），"
                          "文件须在各节点同一路径")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="输出调试日志")] = False,
) -> None:
    _logging(verbose)
    if post and not api_key:
        _fail("--post 需要 --api-key（或环境变量 ETIQUETTE_API_KEY）")
    try:
        load_rules(rules)
    except RulesError as e:
        _fail(problems.console("规则文件", rules or DEFAULT_RULES, e))
    try:
        load_check_rules(checks)
    except CheckRulesError as e:
        _fail(problems.console("检查规则文件", checks or DEFAULT_CHECK_RULES, e))
    try:
        seat = Roi.parse(roi).polygon if roi else None
    except ValueError as e:
        _fail(f"--roi 无效：座位区域应为至少 3 个点 x,y（取画面的比例 0 到 1，点之间用空格），"
              f"如 0.2,0.3 0.8,0.3 0.5,0.9（{e}）")
    try:
        presence_set = load_presence_rules(presence_rules)
    except PresenceRulesError as e:
        _fail(problems.console("在岗规则文件", presence_rules or DEFAULT_PRESENCE_RULES, e))
    declared: tuple[DeclaredPause, ...] = ()
    if pauses:
        try:
            declared = load_pauses(pauses, presence_set)
        except PresenceRulesError as e:
            _fail(problems.console("去向牌记录", pauses, e))
    if recorded_at and recorded_at.tzinfo is None:
        recorded_at = recorded_at.replace(tzinfo=UTC)
    if cluster:  # one file at a time per analyser, each of `threads` threads
        jobs, threads = 1, threads or 1
    options = PipelineOptions(
        segmenter=SegmenterOptions(staff_channel=staff_channel, citizen_channel=1 - staff_channel),
        recogniser=RecogniserOptions(model=model, device=device, compute_type=compute_type,
                                     beam_size=beam_size, rule_prompt=rule_prompt,
                                     num_workers=jobs, part_inputs=part_inputs,
                                     cpu_threads=threads or threads_per_job(jobs)),
        rules_path=rules, checks_path=checks)
    clips = evidence_dir is not None or post is not None
    if evidence_dir is None:
        evidence_dir = out.parent / f"{out.stem}_evidence" if out else Path("evidence")
    if clips:
        options = replace(options, clip_dir=evidence_dir)
    presence = PresenceOptions(rules_path=presence_rules, absence_threshold_s=absence_threshold,
                               roi=seat, pauses=declared, evidence_dir=evidence_dir,
                               threads=threads or threads_per_job(jobs))
    files, refused = collect(paths)
    results = (_on_cluster(cluster, options, presence, files, threads, window, recorded_at)
               if cluster else analysed_here(_pipeline(options, presence, files), files, jobs,
                                             window, recorded_at))
    stream = out.open("w", encoding="utf-8") if out else sys.stdout
    transcript_stream = transcripts.open("w", encoding="utf-8") if transcripts else None
    http = HttpSink(post, api_key or "") if post else None
    sink: Sink = TeeSink(JsonlSink(stream), http) if http else JsonlSink(stream)
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=err, transient=True) as progress:
            task = progress.add_task("分析录音", total=None)

            def advance(source: str, result: object) -> None:
                progress.update(task, advance=1, description=f"分析录音 {Path(source).name}")
                if not hasattr(result, "incidents"):
                    err.print(f"[red]无法处理[/red] {source}: {getattr(result, 'error', result)}",
                              highlight=False)
                elif damages := getattr(result, "damages", ()):
                    err.print(f"[yellow]不完整[/yellow] {source}: "
                              f"{'；'.join(d.message() for d in damages)}", highlight=False)

            progress.update(task, total=len(files) + len(refused))
            transcript_sink = JsonlSink(transcript_stream) if transcript_stream else None
            report = write_batch(results, refused, sink, on_file=advance,
                                 transcripts=transcript_sink)
    finally:
        if cluster:
            import ray

            ray.shutdown()
        if out:
            stream.close()
        if transcript_stream:
            transcript_stream.close()
    _summary(report)
    if http:
        http.close()
        _post_summary(post or "", http.report)
    if report.failed or (http and http.report.failed):
        raise typer.Exit(1)


def _pipeline(options: PipelineOptions, presence: PresenceOptions,
              files: list[Path]) -> RecordingPipeline:
    """The pipeline for analysing here, its models loaded: a missing model fails at start-up."""
    try:
        pipeline = RecordingPipeline(SpeechPipeline(options), presence)
        if any(f.suffix.lower() in VIDEO_SUFFIXES for f in files):
            pipeline.presence  # noqa: B018 - load the detector now
    except (ModelError, DetectorError) as e:
        _fail(f"模型不可用：{e}")
    return pipeline


def _on_cluster(cluster: str, options: PipelineOptions, presence: PresenceOptions,
                files: list[Path], threads: int, window: str | None,
                recorded_at: datetime | None) -> Iterator[tuple[Path, Result]]:
    """`files` analysed on the Ray cluster `cluster` names, in input order, once connected
    (exit 2 when it cannot be reached or loses every analyser); Ray is imported only here."""
    try:
        from etiquette.cluster import ClusterError, analysed_on_cluster, connect
    except ImportError:
        _fail("--cluster 需要 Ray：请安装 etiquette[cluster]（pip install 'etiquette[cluster]'）")
    try:
        connect(cluster)
    except ClusterError as e:
        _fail(str(e))

    def results() -> Iterator[tuple[Path, Result]]:
        try:
            yield from analysed_on_cluster(options, presence, files, threads, window,
                                           recorded_at)
        except ClusterError as e:
            _fail(str(e))

    return results()


def _post_summary(url: str, report: PostReport) -> None:
    err.print(f"发送到 {url}：新增 {report.created} 条，服务端已有 {report.already} 条，失败 "
              f"{len(report.failed)} 条", highlight=False)
    for iid, why in report.failed:
        err.print(f"[red]未送达[/red] {iid}: {why}", highlight=False)
    if report.sessions_unsupported:
        # An older service: the incidents are what it takes; their sessions wait for an upgrade.
        err.print(f"[yellow]注意[/yellow] 该服务版本较旧，没有服务记录接口（{SESSIONS_PATH} 答复 "
                  f"404）：{report.sessions_unsupported} 条服务记录未发送，事件不受影响；服务升级后"
                  "用 --post 再运行一次即可补发（已送达的事件不会重复）", highlight=False)


def _count(a: Analysis, kind: str) -> str:
    """A file's incidents of `kind`, or 未判定 where the audio it lost left them undecided."""
    if kind in a.not_judged:
        return "未判定"
    return str(sum(i.kind.value == kind for i in a.incidents))


def _summary(report: BatchReport) -> None:
    table = Table(title="分析汇总", title_justify="left")
    camera = ("off_post", "asleep_at_post", "gathering")  # judged only where there is video
    for col in ("文件", "时长(秒)", "禁用语", "缺迎声", "缺送声",
                *(KIND_NAMES[k] for k in camera), "状态"):
        table.add_column(col)
    for a in report.analyses:
        kinds = [i.kind.value for i in a.incidents]
        seen = [str(kinds.count(k)) if a.presence else "-" for k in camera]
        status = ("完成" if a.complete
                  else f"[yellow]{'；'.join(d.message() for d in a.damages)}[/yellow]")
        table.add_row(a.source, f"{a.duration_s:.1f}", str(kinds.count("forbidden_phrase")),
                      _count(a, "missing_greeting"), _count(a, "missing_farewell"), *seen,
                      status)
    for e in report.errors:
        table.add_row(e.source, *["-"] * (4 + len(camera)), f"[red]失败：{e.error}[/red]")
    err.print(table)
    speed = report.audio_s / report.wall_s if report.wall_s else 0.0
    counts = "，".join(f"{KIND_NAMES.get(k, k)} {n}"
                      for k, n in sorted(report.incidents_by_kind.items()))
    partial = f"（其中 {len(report.incomplete)} 个不完整）" if report.incomplete else ""
    err.print(f"共 {len(report.analyses)} 个文件成功{partial}，{len(report.errors)} 个失败；音频 "
              f"{report.audio_s:.0f} 秒，用时 {report.wall_s:.0f} 秒（{speed:.1f}× 实时）；"
              f"事件：{counts or '无'}", highlight=False)


@models_app.command("fetch")
def models_fetch(
    names: Annotated[list[str] | None, typer.Argument(help="模型名称（默认全部）")] = None,
    models_dir: Annotated[Path, typer.Option(help="模型目录")] = DEFAULT_MODELS_DIR,
) -> None:
    """下载并校验模型文件（sha256），损坏或不完整的文件会重新组装。"""
    _logging(False)
    logging.getLogger("etiquette").setLevel(logging.INFO)
    try:
        for name in names or sorted(load_manifest(models_dir)):
            path = ensure_model(name, models_dir)
            err.print(f"模型 {name} 已就绪：{path}", highlight=False)
    except ModelError as e:
        _fail(str(e))


@rules_app.command("check")
def rules_check(
    path: Annotated[Path | None, typer.Argument(
        help="规则文件（默认 rules/appendix_b.yaml）")] = None,
) -> None:
    """校验规则文件；有误时指出规则编号和字段。"""
    try:
        rs = load_rules(path)
    except RulesError as e:
        _fail(problems.console("规则文件", path or DEFAULT_RULES, e))
    forbidden = {r.id for r in rs.forbidden}
    meaning = ("，按意思判断的例句 "
               f"{sum(e.rule in forbidden for e in rs.examples)} 句禁用语、"
               f"{sum(e.rule not in forbidden | {NO_RULE} for e in rs.examples)} 句迎声送声、"
               f"{sum(e.rule == NO_RULE for e in rs.examples)} 句其他"
               if rs.meaning else "，不按意思判断（未设 meaning）")
    err.print(f"规则有效：版本 {rs.version}，必用语 {len(rs.required)} 条，禁用语 "
              f"{len(rs.forbidden)} 条{meaning}", highlight=False)


@app.command()
def devices(
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出")] = False,
) -> None:
    """列出本机的音频输入（麦克风）和视频输入（摄像头），及其在站点配置中的写法。"""
    audio_error = None
    try:
        audio = audio_devices.list_audio_inputs()
    except audio_devices.AudioBackendError as e:
        audio, audio_error = [], str(e)
    pulse = (audio_devices.list_pulse_sources()
             if any(d.name == "pulse" for d in audio) else [])
    video = video_devices.list_video_inputs()
    if as_json:
        import json
        from dataclasses import asdict

        typer.echo(json.dumps({"audio": [asdict(d) for d in audio], "audio_error": audio_error,
                               "pulse_sources": [f"{audio_devices.PULSE_PREFIX}{s}" for s in pulse],
                               "video": [asdict(v) for v in video]}, ensure_ascii=False))
        return
    out = Console(width=None if sys.stdout.isatty() else 160)
    if audio_error:
        out.print(f"[red]无法列出音频设备：[/red]{audio_error}", highlight=False)
    elif not audio:
        out.print("未找到音频输入设备（PortAudio 没有列出任何带输入声道的设备）", highlight=False)
    else:
        table = Table(title="音频输入", title_justify="left")
        for column in ("序号", "名称", "输入声道", "默认采样率", "接口"):
            table.add_column(column)
        for d in audio:
            table.add_row(str(d.index), d.name, str(d.channels), f"{d.default_samplerate:.0f}",
                          d.hostapi)
        for source in pulse:
            table.add_row("", f"{audio_devices.PULSE_PREFIX}{source}", "", "", "PulseAudio 音源")
        out.print(table)
    if video:
        table = Table(title="视频输入", title_justify="left")
        table.add_column("设备")
        table.add_column("名称")
        for v in video:
            table.add_row(v.path, v.name or "")
        out.print(table)
    else:
        out.print("未找到视频输入设备（/dev/video*）；网络摄像头用 RTSP/HTTP 地址", highlight=False)


pool_app = typer.Typer(help="识别池：多个大厅共用的语音识别（Ray Serve，须安装 cluster 扩展）",
                       no_args_is_help=True)
app.add_typer(pool_app, name="recognition-pool")
POOL_ADDRESS_HELP = "Ray 集群：local、auto 或 ray://主机:端口"
POOL_NEEDS_RAY = ("识别池需要 Ray Serve：请安装 etiquette[cluster]"
                  "（pip install 'etiquette[cluster]'）")


@pool_app.command("serve")
def pool_serve(
    address: Annotated[str, typer.Option(help=POOL_ADDRESS_HELP)] = "auto",
    replicas: Annotated[int, typer.Option(min=1, help="副本数（各载一个模型）")] = 1,
    threads: Annotated[int, typer.Option(min=1, help="每个副本的 CPU 线程数")] = 1,
    model: Annotated[str, typer.Option(help="模型：manifest 中的名称或模型目录")] = "whisper-base",
    device: Annotated[str, typer.Option(help="cpu 或 cuda")] = "cpu",
    compute_type: Annotated[str, typer.Option(help="int8、float16 等")] = "int8",
    host: Annotated[str, typer.Option(help="HTTP 监听地址")] = "0.0.0.0",
    port: Annotated[int, typer.Option(min=1, max=65535, help="HTTP 端口")] = 8000,
) -> None:
    """部署识别池；站点配置 recognition: {backend: ray, address: http://主机:端口/recognise}。"""
    _logging(False)
    try:  # Ray Serve is imported only here
        from etiquette.recognition_pool import ClusterError, deploy, wait_forever
    except ImportError:
        _fail(POOL_NEEDS_RAY)
    options = RecogniserOptions(model=model, device=device, compute_type=compute_type,
                                cpu_threads=threads)
    try:
        url = deploy(address, replicas, threads, options, host, port)
    except ClusterError as e:
        _fail(str(e))
    err.print(f"识别池已部署：{url}（{replicas} 个副本）", highlight=False)
    if address == "local":  # the pool lives as long as this process's own Ray
        err.print("本机集群随本进程结束；按 Ctrl-C 停止", highlight=False)
        wait_forever()


@pool_app.command("stop")
def pool_stop(
    address: Annotated[str, typer.Option(help=POOL_ADDRESS_HELP)] = "auto",
) -> None:
    """从集群中删除识别池；站点随即改用各自的识别模型。"""
    _logging(False)
    try:
        from etiquette.recognition_pool import ClusterError, undeploy
    except ImportError:
        _fail(POOL_NEEDS_RAY)
    try:
        undeploy(address)
    except ClusterError as e:
        _fail(str(e))
    err.print("识别池已删除", highlight=False)


if __name__ == "__main__":
    app()
