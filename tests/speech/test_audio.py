"""Audio in: every container users bring, any sample rate, stereo as two microphones; bad files
named."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from etiquette.speech.audio import AudioError, DecodedAudio, MediaProbe, probe, read_audio

from factories import SAMPLES
from factories.media import FASTSTART, cut_short, garble, speech, tone, write_media


@pytest.mark.parametrize("name, rate", [
    ("a.wav", 8000), ("a.wav", 44100), ("a.flac", 22050), ("a.mp3", 44100),
    ("a.m4a", 48000), ("a.ogg", 48000), ("a.mp4", 44100), ("a.mkv", 48000),
])
def test_formats_and_rates_decode_to_16k_channels(tmp_path, name, rate):
    staff, citizen = speech("staff"), speech("citizen")
    n = min(len(staff), len(citizen))
    path = write_media(tmp_path / name, [staff[:n], citizen[:n] * 0.5], rate,
                       video=name.endswith((".mp4", ".mkv")))
    audio = read_audio(path)
    assert len(audio.channels) == 2 and audio.source_channels == 2
    assert audio.duration_s == pytest.approx(n / 16000, abs=0.12)
    assert all(c.dtype == np.float32 for c in audio.channels)
    # channel order survives: the staff side is louder on channel 0 where we put it
    assert np.abs(audio.channels[0]).mean() > np.abs(audio.channels[1]).mean()


def test_mono_is_one_channel(tmp_path):
    audio = read_audio(write_media(tmp_path / "m.flac", [speech("staff")]))
    assert len(audio.channels) == 1


@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (b"this is not audio at all" * 20, "cannot decode"),
    (b"RIFF\x24\x00\x00\x00WAVEfmt ", "cannot decode"),  # a header cut short
])
def test_unreadable_files_are_named_errors(tmp_path, content, message):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(AudioError, match=message):
        read_audio(path)


def test_missing_file_and_video_without_audio(tmp_path):
    with pytest.raises(AudioError, match="no such file"):
        read_audio(tmp_path / "nope.wav")
    import av

    path = tmp_path / "silent.mp4"
    with av.open(str(path), "w") as out:
        vs = out.add_stream("mpeg4", rate=10)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        for k in range(5):
            frame = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
            frame.pts = k
            for p in vs.encode(frame):
                out.mux(p)
        for p in vs.encode(None):
            out.mux(p)
    with pytest.raises(AudioError, match="no audio track"):
        read_audio(path)


def test_a_file_cut_short_decodes_what_is_there(tmp_path):
    path = write_media(tmp_path / "cut.mp3", [speech("staff")], 44100)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    audio = read_audio(path)
    assert 0.8 < audio.duration_s < 2.5


# ---------------------------------------------------------------- bounded by what it declares

@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 h of digital silence as FLAC: a few hundred KB on disk, 460 MB as float32 at 16 kHz."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.flac"
    with sf.SoundFile(path, "w", samplerate=16000, channels=1, format="FLAC",
                      subtype="PCM_16") as f:
        minute = np.zeros(16000 * 60, np.int16)
        for _ in range(120):
            f.write(minute)
    return path


def _peak_bytes(fn: Callable[[], object]) -> tuple[object, int]:
    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_probe_reads_the_header_and_decodes_nothing(bomb: Path) -> None:
    assert bomb.stat().st_size < 2_000_000
    for source in (bomb, bomb.read_bytes()):
        info, peak = _peak_bytes(lambda source=source: probe(source))
        assert isinstance(info, MediaProbe)
        assert info.format == "flac" and info.codec == "flac"
        assert info.declared_s == pytest.approx(7200) and info.duration_s == pytest.approx(7200)
        assert (info.audio_streams, info.video_streams, info.channels, info.sample_rate) == (
            1, 0, 1, 16000)
        assert peak < 1_000_000


@pytest.mark.parametrize("as_bytes", [False, True])
def test_an_audio_bomb_is_decoded_no_further_than_max_s(bomb: Path, as_bytes: bool) -> None:
    """Decoding stops at max_s: its samples, not the file's 2 h, are what memory holds."""
    source = bomb.read_bytes() if as_bytes else bomb
    audio, peak = _peak_bytes(lambda: read_audio(source, max_s=20))
    assert isinstance(audio, DecodedAudio)
    assert len(audio.channels[0]) == 20 * 16000 and audio.duration_s == 20
    assert audio.beyond_max and audio.complete and audio.declared_s == pytest.approx(7200)
    # 20 s at 16 kHz is 1.3 MB as float32 (0.6 MB as s16 before it); the whole would be 460 MB.
    assert peak < 8_000_000


def test_a_file_within_max_s_is_read_whole(tmp_path: Path) -> None:
    path = write_media(tmp_path / "short.flac", [tone(3.0)])
    audio = read_audio(path, max_s=3.5)
    assert not audio.beyond_max and audio.complete
    assert audio.duration_s == pytest.approx(3.0, abs=0.01)
    longer = read_audio(path, max_s=1.0)
    assert longer.beyond_max and longer.duration_s == 1.0


def test_uploaded_bytes_never_open_another_file_of_the_machine(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # An ffconcat list naming a recording beside the service: FFmpeg's concat demuxer would
    # decode that file, and practice would transcribe it back to whoever uploaded the list.
    monkeypatch.chdir(SAMPLES.parent)
    listing = b"ffconcat version 1.0\nfile 'recordings_sample/window01_polite.wav'\n"
    with pytest.raises(AudioError):
        read_audio(listing)
    with pytest.raises(AudioError):
        probe(listing)


def test_bytes_decode_as_the_file_does(tmp_path: Path) -> None:
    path = write_media(tmp_path / "a.ogg", [tone(2.0)])
    from_file, from_bytes = read_audio(path), read_audio(path.read_bytes())
    np.testing.assert_array_equal(from_file.channels[0], from_bytes.channels[0])
    with pytest.raises(AudioError, match="empty"):
        read_audio(b"")
    with pytest.raises(AudioError, match="cannot decode"):
        probe(b"this is not audio at all" * 20)


# ---------------------------------------------------------------- complete or not

# Every container users bring, as its recorder finishes it: what its header states, if anything.
FORMATS = [("a.wav", None, 20.0), ("a.flac", None, 20.0), ("a.mp3", None, 20.0),
           ("a.m4a", FASTSTART, 20.0), ("a.m4a", None, 20.0), ("a.ogg", None, None),
           ("a.mkv", None, 20.0)]


@pytest.mark.parametrize("name, options, declared", FORMATS)
def test_a_whole_file_is_complete(tmp_path: Path, name: str, options: dict[str, str] | None,
                                  declared: float | None) -> None:
    path = write_media(tmp_path / name, [tone(20.0), tone(20.0, seed=1)], 44100,
                       container_options=options)
    audio = read_audio(path)
    assert audio.complete and audio.damage is None and audio.unheard == ()
    assert audio.duration_s == pytest.approx(20.0, abs=0.1)
    if declared is None:
        assert audio.declared_s is None and probe(path).declared_s is None
    else:
        assert audio.declared_s == pytest.approx(declared, abs=0.1)


@pytest.mark.parametrize("name, options", [("a.wav", None), ("a.flac", None), ("a.mp3", None),
                                           ("a.m4a", FASTSTART), ("a.ogg", None)])
def test_a_file_cut_short_is_incomplete_where_its_audio_ends(
        tmp_path: Path, name: str, options: dict[str, str] | None) -> None:
    path = cut_short(write_media(tmp_path / name, [tone(20.0)], 44100,
                                 container_options=options), 0.5)
    audio = read_audio(path)
    assert 6.0 < audio.duration_s < 14.0  # what was there is read
    assert audio.damage is not None and not audio.complete
    assert audio.damage.cut_at_s == pytest.approx(audio.duration_s, abs=0.1)
    last = audio.unheard[-1]
    assert last.at_s == pytest.approx(audio.duration_s, abs=0.1)
    message = audio.damage.message()
    assert "录音不完整" in message
    if audio.declared_s is not None:  # the header's length is named; Ogg states none
        assert last.lost_s == pytest.approx(20.0 - audio.duration_s, abs=0.5)
        assert "文件头记载时长 20.0 秒" in message
    else:
        assert "结尾缺失" in message


def test_the_sample_cut_as_the_issue_found_it() -> None:
    """The first 383,517 bytes of window01_polite.wav: its header says 29.7 s, 6.0 s are there."""
    data = (SAMPLES / "window01_polite.wav").read_bytes()[:383_517]
    audio = read_audio(data)
    assert audio.declared_s == pytest.approx(29.7, abs=0.05)
    assert audio.duration_s == pytest.approx(6.0, abs=0.05)
    assert audio.damage is not None and audio.damage.cut_at_s == pytest.approx(6.0, abs=0.05)
    assert "29.7" in audio.damage.message() and "6.0" in audio.damage.message()


def test_a_cut_m4a_without_its_index_is_no_audio_at_all(tmp_path: Path) -> None:
    """A recorder that died before writing the index (moov, at the end by default) leaves a
    file nothing can be decoded from: an error, not an empty analysis."""
    path = cut_short(write_media(tmp_path / "a.m4a", [tone(20.0)], 44100), 0.5)
    with pytest.raises(AudioError):
        read_audio(path)


@pytest.mark.parametrize("name", ["a.flac", "a.mp3", "a.ogg"])
def test_garbage_in_the_middle_is_found_where_it_is(tmp_path: Path, name: str) -> None:
    path = garble(write_media(tmp_path / name, [tone(20.0)], 44100), 0.5, 4000)
    audio = read_audio(path)
    assert audio.damage is not None, "garbage decoded as if the file were whole"
    assert audio.damage.errors + audio.damage.gaps > 0
    assert 8.0 < audio.unheard[0].at_s < 12.0
    assert audio.duration_s > 15.0  # the rest of the file is read
    # An MP3's demuxer skips what it cannot read with no jump in its timestamps: what it lost
    # shows only as a shortfall at the end, which may as well be a cut.
    assert audio.damage.cut_at_s is None or name == "a.mp3"
