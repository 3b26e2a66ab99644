"""Videos cut short or damaged (issue 17, item 6): analysed as far as their pictures go, reported
as incomplete, and no 离岗 judged over time the video does not show.

recordings_sample/window06_counter.mp4 (90 s at 4 fps, key frames at 0 and 62.5 s; the seat is
empty 12-45 s, with a glimpse of her at 30 s, and 60-72 s), cut or damaged by each test, through
the real CenterFace detector; with a threshold of 20 s the whole file has one off-post, 12-45 s.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from etiquette.batch import incomplete_line
from etiquette.core.damage import Track
from etiquette.pipeline import RecordingPipeline, SpeechPipeline
from etiquette.speech.recogniser import Recogniser
from etiquette.vision.container import read_media
from etiquette.vision.watcher import PresenceAnalysis, PresenceOptions, PresencePipeline

from factories import ROOT, SAMPLES
from factories.media import cut_short, garble, speech

SAMPLE = SAMPLES / "window06_counter.mp4"
OPTIONS = PresenceOptions(absence_threshold_s=20)


@pytest.fixture(scope="module")
def presence() -> PresencePipeline:
    return PresencePipeline(OPTIONS)


def copy(tmp_path: Path, name: str = "window06_counter.mp4") -> Path:
    return Path(shutil.copy(SAMPLE, tmp_path / name))


def remux(dst: Path, voice: np.ndarray | None = None, voice_from_s: float = 0.0,
          faststart: bool = True) -> Path:
    """The sample's pictures as they are (no re-encoding), with a mono 16 kHz AAC track of
    `voice` from `voice_from_s` if given, packets interleaved in time as a camera writes them;
    `faststart` False puts the index (moov) at the end, as a recorder writes it when it closes
    the file."""
    with av.open(str(SAMPLE)) as src, av.open(
            str(dst), "w", options={"movflags": "+faststart"} if faststart else {}) as out:
        out.metadata.update(src.metadata)
        vin = src.streams.video[0]
        vout = out.add_stream_from_template(vin)
        packets: list[tuple[float, av.Packet]] = []
        for p in src.demux(vin):
            if p.size:
                p.stream = vout
                packets.append((float(p.dts * p.time_base), p))
        if voice is not None:
            aout = out.add_stream("aac", rate=16000)
            aout.layout = "mono"
            frame = av.AudioFrame.from_ndarray(voice[None].astype(np.float32), format="fltp",
                                               layout="mono")
            frame.sample_rate, frame.time_base = 16000, Fraction(1, 16000)
            frame.pts = round(voice_from_s * 16000)
            chunks = av.AudioResampler(format="fltp", layout="mono", rate=16000, frame_size=1024)
            for chunk in [*chunks.resample(frame), *chunks.resample(None), None]:
                for p in aout.encode(chunk):
                    packets.append((float(p.pts * p.time_base), p))
        for _, p in sorted(packets, key=lambda tp: tp[0]):
            out.mux(p)
    return dst


def spans(a: PresenceAnalysis) -> list[tuple[float, float]]:
    return [(i.offset_s, i.end_s) for i in a.incidents]


def test_a_recording_cut_in_an_absence_is_judged_up_to_the_cut_and_no_further(presence, tmp_path):
    """The first 40 % of the bytes: pictures to about 35 s of the 90 the header states. She was
    seen away from 12 s until the pictures stop: longer than 20 s, so off post, up to the cut
    (what she did after it nobody saw)."""
    a = presence.analyse(cut_short(copy(tmp_path), 0.4))
    d = a.damage
    assert d is not None and d.track is Track.VIDEO
    assert d.declared_s == pytest.approx(90.0) and d.cut_at_s is not None
    assert 33.0 < d.cut_at_s < 40.0 and d.cut_at_s == a.duration_s
    assert d.lost_spans == ((d.cut_at_s, pytest.approx(90.0)),)
    assert abs(a.frames - 2 * d.cut_at_s) <= 2  # every sampled frame before the cut looked at
    (inc,) = a.incidents
    assert inc.offset_s == pytest.approx(12.0, abs=0.6) and inc.end_s == pytest.approx(d.cut_at_s)
    assert "仍未返回，其后画面缺失" in inc.explanation
    assert all(x.end_s <= d.cut_at_s for x in a.absences)


def test_pictures_lost_mid_stream_split_the_absence_they_fall_in(presence, tmp_path):
    """20,000 bytes of garbage a third into the file: pictures from about 28 s fail, and those
    after are predicted from them until the key frame at 62.5 s. She was seen away 12 s to the
    loss (under 20 s) and from 62.5 s to 72 s; she may have come back in between: no off-post,
    where the whole file has 12-45 s. The pictures after the loss are analysed all the same."""
    a = presence.analyse(garble(copy(tmp_path), 1 / 3, 20_000))
    d = a.damage
    assert d is not None and d.errors > 0 and d.cut_at_s is None
    ((start, end),) = d.lost_spans
    assert 25.0 < start < 30.0 and end == pytest.approx(62.5)
    assert [(x.start_s, x.end_s, x.before_loss, x.after_loss) for x in a.absences] == [
        (12.0, start, True, False), (62.5, 72.0, False, True)]
    assert a.incidents == ()
    assert a.duration_s == pytest.approx(90.0)
    assert "画面无法解码" in d.message() and "不判定离岗" in d.message()


def etiquette(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "etiquette.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


def test_batch_reports_a_cut_video_incomplete_and_one_without_its_index_as_an_error(tmp_path):
    """A folder with the first 60 % of the sample (index in front: pictures to about 53 s) and a
    copy whose index is at the end, cut the same way (nothing can be placed without it)."""
    folder = tmp_path / "in"
    folder.mkdir()
    cut_short(copy(folder, "cut.mp4"), 0.6)
    unfinished = cut_short(remux(folder / "unfinished.mp4", faststart=False), 0.6)
    assert b"moov" not in unfinished.read_bytes()
    out = tmp_path / "out.jsonl"
    result = etiquette("batch", str(folder), "--absence-threshold", "20", "--out", str(out))
    assert result.returncode == 1, result.stderr
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    by_file: dict[str, list[dict]] = {}
    for line in lines:
        by_file.setdefault(Path(line["source"]).name, []).append(line)
    (incomplete,) = [x for x in by_file["cut.mp4"] if x["kind"] == "incomplete"]
    assert incomplete["declared_s"] == pytest.approx(90.0)
    assert 50.0 < incomplete["decoded_s"] < 56.0
    assert incomplete["unseen"] == [[incomplete["decoded_s"], 90.0]]
    assert incomplete["decode_errors"] == 0 and incomplete["not_judged"] == []
    assert "视频不完整" in incomplete["error"] and "90.0" in incomplete["error"]
    # what was read is analysed: the absence of 12-45 s, seen whole, is off post
    (off,) = [x for x in by_file["cut.mp4"] if x["kind"] == "off_post"]
    assert off["offset_s"] == pytest.approx(12.0, abs=0.6)
    assert off["end_s"] == pytest.approx(45.0, abs=0.6)
    (error,) = by_file["unfinished.mp4"]
    assert error["kind"] == "error" and "缺少索引" in error["error"]
    assert "其中 1 个不完整" in result.stderr and "1 个失败" in result.stderr
    assert "不完整" in result.stderr and "Traceback" not in result.stderr


def test_a_cut_videos_sound_keeps_its_own_damage(tmp_path):
    """The sample's pictures with a voice all along, cut at 60 %: both tracks stop near the same
    place and each says so, the audio as an audio file cut there would."""
    voice = np.zeros(16000 * 90, np.float32)
    said = speech("staff")
    voice[16000:16000 + len(said)] = said
    media = read_media(cut_short(remux(tmp_path / "voiced.mp4", voice), 0.6), 2.0)
    assert media.audio is not None and media.audio.damage is not None
    heard, seen = media.audio.damage, media.video_damage
    assert heard.track is Track.AUDIO and seen is not None and seen.track is Track.VIDEO
    assert heard.declared_s == pytest.approx(90.0, abs=0.1) and heard.cut_at_s is not None
    assert seen.cut_at_s == pytest.approx(heard.cut_at_s, abs=1.0)
    assert media.audio.duration_s == pytest.approx(heard.cut_at_s, abs=0.1)
    assert 40.0 < media.video_end_s < 60.0


@pytest.mark.slow
def test_a_cut_video_with_sound_through_both_senses(tmp_path, recogniser: Recogniser):
    """The voice at 1 s and pictures, cut at 60 %: the speech path leaves the farewell unjudged
    (the end of the session may be in what was lost), the presence path judges what it saw;
    one line reports both losses. And a copy whose voice starts after the cut keeps no sound
    at all: its pictures are still analysed and its audio reported lost."""
    voice = np.zeros(16000 * 90, np.float32)
    said = speech("staff")
    voice[16000:16000 + len(said)] = said
    pipeline = RecordingPipeline(SpeechPipeline(recogniser=recogniser), OPTIONS)
    a = pipeline.analyse(cut_short(remux(tmp_path / "voiced.mp4", voice), 0.6))
    assert a.damage is not None and a.video_damage is not None and not a.complete
    assert any("请问" in t.text for t in a.transcripts)
    assert a.not_judged == ("missing_farewell",)
    assert not [i for i in a.incidents if i.kind == "missing_farewell"]
    assert [(round(i.offset_s), round(i.end_s)) for i in a.incidents if i.kind == "off_post"] == [
        (12, 45)]
    line = incomplete_line(a)
    assert line is not None and "录音不完整" in line["error"] and "视频不完整" in line["error"]
    late = pipeline.analyse(cut_short(remux(tmp_path / "late.mp4", voice[:16000 * 30], 60.0),
                                      0.5))
    assert late.transcripts == () and late.damage is not None and late.video_damage is not None
    assert late.damage.track is Track.AUDIO and late.damage.read_s == 0.0
    assert [(round(i.offset_s), round(i.end_s)) for i in late.incidents] == [(12, 45)]
