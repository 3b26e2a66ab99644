"""OpenCV sources: a file sampled on the grid, a live network stream, a source that drops."""

from __future__ import annotations

import socket
import threading
import time

import av
import cv2
import pytest

from etiquette.vision.camera import CameraOptions, CameraSource
from etiquette.vision.frames import VideoError

from factories.scenes import SAMPLES, detector, scene


def test_a_file_is_sampled_at_the_configured_rate():
    source = CameraSource(str(SAMPLES / "window06_counter.mp4"), CameraOptions(sample_fps=1.0))
    frames = list(source.frames())
    assert len(frames) == 90  # 90 s at 1 frame per second out of 4
    assert [f.t_s for f in frames[:4]] == pytest.approx([0.0, 1.0, 2.0, 3.0])
    assert frames[0].image.shape == (480, 640, 3)
    # the staff member is at the seat at 2 s and gone at 20 s (the sample's timeline)
    assert len(detector().detect(frames[2].image)) == 1
    assert detector().detect(frames[20].image) == []


def test_a_stop_event_ends_the_frames():
    stop = threading.Event()
    source = CameraSource(str(SAMPLES / "window06_counter.mp4"), CameraOptions(sample_fps=2.0))
    got = []
    for f in source.frames(stop):
        got.append(f)
        if len(got) == 3:
            stop.set()
    assert len(got) == 3


def test_sources_that_cannot_be_opened(tmp_path):
    with pytest.raises(VideoError, match="no such file"):
        CameraSource(str(tmp_path / "nope.mp4"))
    bad = tmp_path / "bad.avi"
    bad.write_bytes(b"RIFF" + b"\x00" * 500)
    with pytest.raises(VideoError, match="cannot open"):
        list(CameraSource(str(bad)).frames())
    # nothing listens on this port: the stream cannot open within the timeout
    with pytest.raises(VideoError, match="cannot open"):
        list(CameraSource(f"rtsp://127.0.0.1:{_free_port()}/window1",
                          CameraOptions(open_timeout_s=2)).frames())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stream(port: int, bursts: list[tuple[float, float]], image) -> None:  # type: ignore[no-untyped-def]
    """A network camera: `image` as MPEG-TS over UDP in real time, sending only during `bursts`
    (start, end seconds): between them it is silent, as a camera that hiccups."""
    fps = 25  # MPEG-1 allows only the broadcast rates
    with av.open(f"udp://127.0.0.1:{port}?pkt_size=1316", "w", format="mpegts") as out:
        vs = out.add_stream("mpeg1video", rate=fps)
        vs.width, vs.height, vs.pix_fmt = 320, 240, "yuv420p"
        vs.codec_context.gop_size = 10  # a late reader finds a key frame soon
        vs.bit_rate = 1_000_000
        t0 = time.monotonic()
        for start, end in bursts:
            for k in range(int(start * fps), int(end * fps)):
                time.sleep(max(0.0, t0 + k / fps - time.monotonic()))
                frame = av.VideoFrame.from_ndarray(image, format="bgr24")
                frame.pts = k
                for p in vs.encode(frame):
                    out.mux(p)
        for p in vs.encode(None):
            out.mux(p)


def test_a_live_network_camera_that_hiccups_then_drops():
    port = _free_port()
    source = CameraSource(f"udp://127.0.0.1:{port}?overrun_nonfatal=1",
                          CameraOptions(sample_fps=2.0, open_timeout_s=3, read_timeout_s=1.0,
                                        reconnect_attempts=1, reconnect_delay_s=0.2))
    image = cv2.resize(scene().present, (320, 240))
    writer = threading.Thread(target=_stream, args=(port, [(0.0, 2.0), (3.5, 6.0)], image),
                              daemon=True)
    writer.start()
    frames = []
    with pytest.raises(VideoError, match="dropped"):
        for f in source.frames():
            frames.append(f)
    writer.join(timeout=10)
    times = [f.t_s for f in frames]
    assert times == sorted(set(times))
    # frames before the silence and, after reconnecting, after it
    assert sum(t < 2.5 for t in times) >= 2 and sum(t > 3.5 for t in times) >= 2
    assert frames[0].image.shape == (240, 320, 3)
    assert sum(len(detector().detect(f.image)) == 1 for f in frames) >= len(frames) - 1


def test_a_looped_file_is_replayed_again_and_again_its_offsets_going_on():
    """The demo's counter video as a camera that never ends (issue 18: at the end of one play
    its camera showed 0 fps)."""
    stop = threading.Event()
    source = CameraSource(str(SAMPLES / "window06_counter.mp4"),
                          CameraOptions(sample_fps=1.0, loop=True))
    got = []
    for f in source.frames(stop):
        got.append(f)
        if len(got) == 200:  # 90 frames a play: into the third one
            stop.set()
    assert len(got) == 200
    assert [f.t_s for f in got] == pytest.approx([float(k) for k in range(200)])
    assert (got[92].image == got[2].image).all() and (got[182].image == got[2].image).all()
