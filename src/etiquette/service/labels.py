"""Chinese names of the domain's codes, for pages, reports and exports (one place)."""

from __future__ import annotations

KIND_NAMES = {"forbidden_phrase": "禁用语", "missing_greeting": "缺迎声",
              "missing_farewell": "缺送声", "off_post": "离岗"}
SEVERITY_NAMES = {"minor": "一般", "major": "较重", "critical": "严重"}
STATUS_NAMES = {"pending": "待审核", "confirmed": "已确认", "dismissed": "已驳回",
                "appealed": "申诉中"}
ROLE_NAMES = {"admin": "管理员", "supervisor": "监督员", "staff": "窗口工作人员",
              "auditor": "审计员"}
SPEAKER_NAMES = {"staff": "工作人员", "citizen": "办事群众", "unknown": "未区分"}
EVIDENCE_NAMES = {"clip": "录音片段", "snapshot": "现场抓拍", "empty_seat": "空座画面",
                  "last_seen": "最后在岗画面"}


def number(value: float | int | None) -> str:
    """A score or point count as a reader writes it: 100, 98.5, 96.67; — for none."""
    if value is None:
        return "—"
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}".rstrip("0").rstrip(".")


# The hall (大厅态势): a window's state, its seat, and why a tile is not green.
HALL_STATUS_NAMES = {"ok": "正常", "warn": "注意", "alert": "异常", "offline": "未接入"}
SEAT_NAMES = {"present": "在座", "absent": "离座", "unknown": "未知"}
HALL_REASONS = {"stale": "心跳中断", "offline": "未接入", "no_picture": "摄像头无画面"}
# A window's input that is not OK, by (component, state) as the live site reports it.
INPUT_PROBLEM_NAMES = {
    ("audio", "down"): "麦克风断开", ("audio", "degraded"): "麦克风异常",
    ("camera", "down"): "摄像头断开", ("camera", "degraded"): "摄像头画面受损",
    ("presence", "down"): "在岗监测停止", ("presence", "degraded"): "在岗监测异常",
}
