"""Audio in: every container users bring, any sample rate, stereo as two microphones; bad files
named."""

from __future__ import annotations

import numpy as np
import pytest

from etiquette.speech.audio import AudioError, read_audio

from factories.media import speech, write_media


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
