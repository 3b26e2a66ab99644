"""Chinese names of the domain's codes, for pages, reports and exports (one place)."""

from __future__ import annotations

KIND_NAMES = {"forbidden_phrase": "禁用语", "missing_greeting": "缺迎声",
              "missing_farewell": "缺送声", "off_post": "离岗",
              "unanswered_question": "问而未答", "interruption": "抢话",
              "fast_speech": "语速过快", "raised_voice": "声音过高",
              "non_mandarin": "未使用普通话", "missing_apology": "缺致歉",
              "asleep_at_post": "睡岗", "gathering": "聚集闲聊"}
SEVERITY_NAMES = {"minor": "一般", "major": "较重", "critical": "严重"}
STATUS_NAMES = {"pending": "待审核", "confirmed": "已确认", "dismissed": "已驳回",
                "appealed": "申诉中"}
ROLE_NAMES = {"admin": "管理员", "supervisor": "监督员", "staff": "窗口工作人员",
              "auditor": "审计员"}
SPEAKER_NAMES = {"staff": "工作人员", "citizen": "办事群众", "unknown": "未区分"}
EVIDENCE_NAMES = {"clip": "录音片段", "snapshot": "现场抓拍", "empty_seat": "空座画面",
                  "last_seen": "最后在岗画面", "first_frame": "首帧画面", "last_frame": "末帧画面"}


def number(value: float | int | None) -> str:
    """A score or point count as a reader writes it: 100, 98.5, 96.67; — for none."""
    if value is None:
        return "—"
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}".rstrip("0").rstrip(".")


APPEAL_DECISION_NAMES = {"accepted": "申诉成立，事件撤销", "rejected": "申诉不成立，维持确认"}
# 好差评 (the hall's evaluation device) and complaints (§九(四)).
RATING_LEVEL_NAMES = {"very_satisfied": "非常满意", "satisfied": "满意",
                      "fairly_satisfied": "基本满意", "dissatisfied": "不满意",
                      "very_dissatisfied": "非常不满意"}
COMPLAINT_CHANNEL_NAMES = {"onsite": "现场", "phone": "电话", "online": "网络", "sms": "短信"}
COMPLAINT_STATUS_NAMES = {"pending": "待处理", "handling": "处理中", "answered": "已答复",
                          "overdue": "逾期"}
# Kinds judged from the camera (the seat), not from speech: no transcript, similarity or
# recording position means anything for them.
PRESENCE_KINDS = frozenset({"off_post", "asleep_at_post", "gathering"})


def incident_title(kind: str, rule_name: str) -> str:
    """An incident's title: its kind and rule, the kind once (a rule named 「禁用语：不知道」 or
    「离岗」 already says it)."""
    kind_name = KIND_NAMES.get(kind, kind)
    if rule_name.startswith(kind_name):
        return rule_name
    return f"{kind_name}：{rule_name}" if rule_name else kind_name

# The audit log's actions, what they act on, and the fields of their before/after records.
ACTION_NAMES = {
    "auth.login": "登录", "auth.lockout": "登录失败过多，暂时锁定",
    "auth.throttled": "拒绝过于频繁的登录",
    "user.create": "新建用户", "user.update": "修改用户", "user.password": "修改密码",
    "api_key.create": "新建流水线密钥", "api_key.revoke": "吊销流水线密钥",
    "incident.ingest": "接收事件", "incident.confirm": "确认违规", "incident.dismiss": "驳回",
    "incident.reopen": "重新审核", "incident.undo": "撤销审核决定", "incident.appeal": "提出申诉",
    "incident.decide_appeal": "裁决申诉", "evidence.purge": "按保存期限删除证据",
    "commendation.create": "新增表扬", "commendation.delete": "删除表扬",
    "rules.version": "发布规则新版本", "scoring.version": "发布评分方案新版本",
    "center.create": "新建中心", "center.update": "修改中心", "center.delete": "删除中心",
    "window.create": "新建窗口", "window.update": "修改窗口", "window.delete": "删除窗口",
    "staff.create": "新建工作人员", "staff.update": "修改工作人员",
    "staff.delete": "删除工作人员", "staff.photo": "更新工作人员照片",
    "assignment.create": "新建排班", "assignment.update": "修改排班",
    "assignment.delete": "删除排班", "masterdata.import": "导入主数据",
    "webhook.create": "新建预警推送", "webhook.update": "修改预警推送",
    "webhook.delivery_failed": "预警推送最终失败",
    "rating.create": "接收评价", "rating.reattach": "评价关联到其所评的服务记录",
    "complaint.create": "登记投诉",
    "complaint.assign": "指定投诉处理人", "complaint.reply": "答复投诉",
    "session.ingest": "接收服务记录",
    "session.words_purge": "按保存期限删除服务记录的对话文字",
}
# An action not named above (a newer one) is still told in words: its target and its verb.
AUDIT_TARGET_NAMES = {
    "auth": "登录", "login": "登录", "user": "用户", "api_key": "流水线密钥", "incident": "事件",
    "evidence": "证据", "commendation": "表扬", "rules": "规则", "scoring": "评分方案",
    "center": "中心", "window": "窗口", "staff": "工作人员", "assignment": "排班",
    "masterdata": "主数据", "webhook": "预警推送", "rating": "评价", "complaint": "投诉",
    "session": "服务记录",
}
AUDIT_VERB_NAMES = {"create": "新建", "update": "修改", "delete": "删除", "revoke": "吊销",
                    "version": "发布新版本", "import": "导入"}
AUDIT_FIELD_NAMES = {
    # incidents
    "status": "状态", "review_reason": "审核意见", "reviewed_by": "审核人",
    "reviewed_at": "审核时间", "appeal_reason": "申诉理由", "appealed_by": "申诉人",
    "appealed_at": "申诉时间", "appeal_decision": "申诉裁决",
    "appeal_decision_reason": "裁决理由", "appeal_decided_by": "裁决人",
    "appeal_decided_at": "裁决时间", "kind": "类型", "rule_id": "规则编号",
    "window_id": "窗口", "staff_id": "工作人员", "evidence": "证据",
    "evidence_purged_at": "证据删除时间",
    # service sessions
    "words": "有文字的讲话条数", "words_purged_at": "对话文字删除时间",
    # users and keys
    "username": "用户名", "display_name": "姓名", "role": "角色", "active": "启用",
    "password": "密码", "sessions_ended": "结束的其他登录", "name": "名称",
    "prefix": "密钥前缀", "center_id": "中心", "revoked_at": "吊销时间",
    # logins
    "ip": "地址", "counted_as": "计入地址", "scope": "范围", "scopes": "范围",
    "failures": "失败次数", "wait_s": "等待秒数", "retry_after_s": "重试等待秒数",
    "refused": "拒绝次数", "forgotten": "已清除记录",
    # rules and scoring
    "version_id": "版本序号", "version": "版本", "sha256": "校验值", "comment": "说明",
    "effective_from": "生效月份",
    # master data
    "code": "编码", "number": "窗口号", "department": "进驻部门",
    "business_category": "业务类别", "employee_no": "工号", "photo_sha256": "照片",
    "window_pk": "窗口", "start_at": "开始时间", "end_at": "结束时间", "centers": "中心",
    "windows": "窗口", "staff": "工作人员", "assignments": "排班",
    # commendations and webhooks
    "at": "时间", "reason": "理由", "url": "地址", "kinds": "事件类型",
    "severities": "严重程度", "delivery_id": "推送编号", "incident_id": "事件",
    "attempts": "尝试次数", "error": "错误",
    # ratings and complaints
    "level": "评价", "ticket": "排队号", "session_id": "服务记录", "channel": "投诉渠道",
    "text": "投诉内容", "contact": "联系方式", "handler_id": "处理人", "deadline": "答复期限",
    "reply": "答复",
}
THROTTLE_SCOPE_NAMES = {"pair": "该用户在该地址", "address": "该地址", "account": "该用户"}
# Values that are codes, by the field that holds them.
AUDIT_VALUE_NAMES: dict[str, dict[str, str]] = {
    "status": STATUS_NAMES, "kind": KIND_NAMES, "kinds": KIND_NAMES, "role": ROLE_NAMES,
    "severities": SEVERITY_NAMES, "evidence": EVIDENCE_NAMES,
    "appeal_decision": APPEAL_DECISION_NAMES, "password": {"changed": "已修改"},
    "scope": THROTTLE_SCOPE_NAMES, "scopes": THROTTLE_SCOPE_NAMES, "refused": THROTTLE_SCOPE_NAMES,
    "level": RATING_LEVEL_NAMES, "channel": COMPLAINT_CHANNEL_NAMES,
}

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

# An error page's text where the error's message has no Chinese (a route that does not exist).
HTTP_ERROR_NAMES = {400: "请求有误", 403: "无权执行此操作", 404: "页面或记录不存在",
                    405: "不支持此操作", 409: "操作与当前状态冲突", 410: "内容已被删除",
                    413: "内容太大", 415: "不支持的文件类型", 422: "请求参数有误",
                    429: "请求太频繁，请稍后重试", 503: "服务暂时不可用，请稍后重试"}
