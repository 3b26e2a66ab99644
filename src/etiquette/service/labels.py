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
