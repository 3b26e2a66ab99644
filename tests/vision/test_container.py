"""A recording file read once: audio for speech, sampled frames for presence; bad videos named."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import av
import numpy as np
import pytest

from etiquette.core.damage import Track
from etiquette.pipeline import RecordingPipeline, SpeechPipeline
from etiquette.speech.audio import read_audio
from etiquette.vision.container import read_media
from etiquette.vision.frames import FrameSample, Sampler, VideoError
from etiquette.vision.watcher import PresenceOptions

from factories.media import speech, write_media
from factories.scenes import timeline_video, write_video


@pytest.fixture
def opens(monkeypatch) -> list[str]:
    """Every file PyAV opens from now on."""
    calls: list[str] = []
    real = av.open

    def counting(file, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(str(file))
        return real(file, *args, **kwargs)

    monkeypatch.setattr(av, "open", counting)
    return calls


def test_the_sampler_keeps_a_fixed_grid():
    s = Sampler(2.0)
    frames = [k / 25 for k in range(0, 75)]  # 3 s at 25 fps
    assert [t for t in frames if s.due(t)] == [0.0, 0.52, 1.0, 1.52, 2.0, 2.52]
    s = Sampler(2.0)
    times = (0.0, 0.4999999, 0.9, 2.7, 2.8, 3.0)
    assert [t for t in times if s.due(t)] == [0.0, 0.4999999, 2.7, 3.0]
    with pytest.raises(ValueError):
        Sampler(0)


@pytest.mark.parametrize("name", ["a.mp4", "a.mkv"])
def test_a_videos_audio_is_exactly_what_the_speech_path_reads_and_the_file_is_opened_once(
        tmp_path, opens, name):
    staff, citizen = speech("staff"), speech("citizen")
    n = min(len(staff), len(citizen))
    path = write_media(tmp_path / name, [staff[:n], citizen[:n] * 0.5], 44100, video=True)
    opens.clear()
    frames = []
    media = read_media(path, 2.0, frames.append)
    assert opens == [str(path)]
    reference = read_audio(path)
    assert media.audio is not None and media.audio.source_channels == reference.source_channels == 2
    for got, want in zip(media.audio.channels, reference.channels, strict=True):
        assert np.array_equal(got, want)
    # tests/media.py writes a 10 fps grey ramp: sampled at 2 fps on the half-second grid
    assert [f.t_s for f in frames] == pytest.approx([0.5 * k for k in range(len(frames))])
    assert len(frames) == int(np.ceil(media.video_end_s * 2))
    assert frames[0].image.shape == (48, 64, 3) and frames[0].image.dtype == np.uint8


def test_a_video_without_sound_and_a_sound_file_named_mp4(tmp_path):
    silent = timeline_video(tmp_path / "silent.mp4", [("present", 0.0, 3.0)])
    media = read_media(silent, 2.0, lambda f: None)
    assert media.audio is None and media.info.has_video and not media.info.has_audio
    assert media.frames_sampled == 6 and media.video_end_s == pytest.approx(3.0)
    sound = write_media(tmp_path / "voice.mp4", [speech("staff")], 16000)
    frames = []
    media = read_media(sound, 2.0, frames.append)
    assert not media.info.has_video and frames == []
    assert media.audio is not None and len(media.audio.channels) == 1


def test_the_recording_start_comes_from_the_container(tmp_path):
    path = tmp_path / "stamped.mp4"
    with av.open(str(path), "w") as out:
        out.metadata["creation_time"] = "2026-11-27T01:30:00.000000Z"
        vs = out.add_stream("libx264", rate=4)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        for k in range(4):
            f = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="bgr24")
            f.pts = k
            for p in vs.encode(f):
                out.mux(p)
        for p in vs.encode(None):
            out.mux(p)
    info = read_media(path, 2.0).info
    assert info.created_at == datetime(2026, 11, 27, 1, 30, tzinfo=UTC)
    assert info.width == 64 and info.fps == 4
    unstamped = timeline_video(tmp_path / "plain.mp4", [("absent", 0.0, 1.0)])
    assert read_media(unstamped, 2.0).info.created_at is None


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """A 20 s counter video with its index in front (as streamed files are), ~60 KB."""
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    return write_video(path, _frames, 20.0, faststart=True)


def _frames(t: float) -> np.ndarray:
    from factories.scenes import scene

    s = scene()
    return s.present if int(t) % 4 < 2 else s.empty


def test_a_video_cut_short_mid_stream_is_read_as_far_as_it_goes(clip, tmp_path):
    data = clip.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    seen: list[FrameSample] = []
    lost: list[float] = []
    media = read_media(cut, 2.0, seen.append, on_loss=lost.append)
    damage = media.video_damage
    assert damage is not None and damage.track is Track.VIDEO
    assert damage.declared_s == pytest.approx(20.0) and damage.cut_at_s == media.video_end_s
    assert damage.lost_spans == ((media.video_end_s, pytest.approx(20.0)),)
    assert lost == [media.video_end_s]  # said once, after the last frame handed on
    assert "20.0" in damage.message() and "视频不完整" in damage.message()
    # what was there was read: every due frame up to the cut, in time order
    assert 0 < len(seen) == media.frames_sampled < 40
    assert [f.t_s for f in seen] == pytest.approx([0.5 * k for k in range(len(seen))])
    assert seen[-1].t_s < media.video_end_s


def test_a_video_cut_before_its_index_cannot_be_opened(tmp_path):
    path = write_video(tmp_path / "live.mp4", _frames, 6.0)  # index at the end, as recorders write
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(VideoError, match="cannot open") as e:
        read_media(path, 2.0)
    assert "缺少索引" in str(e.value)


def test_a_corrupt_video_is_read_up_to_the_damage(clip, tmp_path):
    """Garbage in the middle of a stream with one key frame: the pictures from the damage on
    are predicted from it, so none of them is taken for what the camera saw."""
    data = bytearray(clip.read_bytes())
    rng = np.random.default_rng(7)
    k = len(data) // 2
    data[k:k + 4000] = rng.integers(0, 256, 4000, dtype=np.uint8).tobytes()
    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(bytes(data))
    seen: list[FrameSample] = []
    media = read_media(bad, 2.0, seen.append)
    damage = media.video_damage
    assert damage is not None and damage.errors >= 1 and damage.cut_at_s is None
    ((start, end),) = damage.lost_spans
    assert start == media.video_end_s and end == pytest.approx(20.0)
    assert damage.first_error_s is not None and start <= damage.first_error_s
    assert seen and all(f.t_s < start for f in seen)
    assert "无法解码" in damage.message()


def test_a_video_with_nothing_decodable_is_an_error(clip, tmp_path):
    cut = tmp_path / "header_only.mp4"
    cut.write_bytes(clip.read_bytes()[:2000])  # the index and no whole picture
    with pytest.raises(VideoError, match="no decodable video frames") as e:
        read_media(cut, 2.0)
    assert "20.0" in str(e.value) and "不完整" in str(e.value)


@pytest.mark.parametrize("content, message", [
    (None, "no such file"), (b"", "empty file"),
    (b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 50, "cannot open"),
])
def test_unreadable_files(tmp_path, content, message):
    path = tmp_path / "bad.mp4"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(VideoError, match=message):
        read_media(path, 2.0)


@pytest.mark.slow
def test_a_video_with_sound_gets_both_senses_from_one_pass(tmp_path, opens, recogniser):
    # 30 s: the staff member greets at 1 s (mono: speaker unknown), leaves at 5 s and is not
    # back when the recording ends; threshold 20 s.
    voice = np.zeros(16000 * 30, np.float32)
    said = speech("staff")
    voice[16000: 16000 + len(said)] = said
    path = timeline_video(tmp_path / "window09.mp4", [("present", 0.0, 5.0), ("absent", 5.0, 30.0)],
                          audio=voice)
    options = PresenceOptions(absence_threshold_s=20, evidence_dir=tmp_path / "ev")
    pipeline = RecordingPipeline(SpeechPipeline(recogniser=recogniser), options)
    pipeline.presence  # noqa: B018 - load the detector before counting opens
    opens.clear()
    result = pipeline.analyse(path, recorded_at=datetime(2026, 11, 27, 2, 0, tzinfo=UTC))
    assert opens == [str(path)]  # one pass over the file for both senses
    assert any("请问" in t.text for t in result.transcripts)
    assert result.presence is not None and result.presence.frames == 60
    off = [i for i in result.incidents if i.kind == "off_post"]
    assert len(off) == 1 and off[0].offset_s == pytest.approx(5.0, abs=0.6)
    assert off[0].end_s == pytest.approx(30.0, abs=0.6) and "仍未返回" in off[0].explanation
    assert set(off[0].evidence) == {"empty_seat", "last_seen"}
    assert all(Path(p).is_file() for p in off[0].evidence.values())
    assert result.duration_s == pytest.approx(30.0, abs=0.2)
