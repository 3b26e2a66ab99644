"""The cameras plugged into this machine, as `etiquette devices` lists them."""

from __future__ import annotations

from pathlib import Path

from etiquette.vision.devices import list_video_inputs


def test_video_inputs_are_named_from_sysfs(tmp_path: Path) -> None:
    dev, sysfs = tmp_path / "dev", tmp_path / "sys"
    for name in ("video0", "video1", "video10", "vhci"):
        (dev / name).parent.mkdir(parents=True, exist_ok=True)
        (dev / name).touch()
    (sysfs / "video0").mkdir(parents=True)
    (sysfs / "video0" / "name").write_text("USB Camera: HD Webcam\n")
    found = list_video_inputs(dev, sysfs)
    assert [v.path for v in found] == [str(dev / n) for n in ("video0", "video1", "video10")]
    assert found[0].name == "USB Camera: HD Webcam" and found[1].name is None
