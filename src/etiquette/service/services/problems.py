"""What is wrong in a rules or scoring document, in Chinese, for the people who edit them.

The core's validators say it in English (the CLI prints that message) and as data
(`etiquette.core.rules.Problem`: key path, line, error type and its values); this words the
data for the service's pages and API, naming the rule (its number and name), the field and the
line. One wording per error type, here only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from etiquette.core.rules import DocumentError, Problem, line_of
from etiquette.service.errors import Invalid
from etiquette.service.labels import KIND_NAMES, SEVERITY_NAMES, SPEAKER_NAMES, STATUS_NAMES

# The documents' keys, as the comments at the top of rules/appendix_b.yaml and
# rules/scoring.yaml explain them.
FIELD_NAMES = {
    # rules
    "version": "版本标识", "source": "依据", "matching": "匹配设置", "session": "服务时段",
    "groups": "禁用语类别", "required": "必用语", "forbidden": "禁用语", "id": "规则编号",
    "name": "名称", "phrases": "用语", "variants": "同义说法", "exclusions": "排除说法",
    "min_score": "最低相似度", "severity": "严重程度", "deduction": "扣分",
    "instead": "应改说的规范用语", "group": "所属类别", "clause": "依据条款",
    "expected_at": "应说的时机", "missing": "未说时的事件", "kind": "事件类型",
    "speakers": "适用的说话人", "context": "语境", "word_boundary": "须为完整的词",
    "unless": "不算违规的语境", "only_if": "仅在这些语境中算违规", "sentence": "句式",
    "speaker": "说话人如何确定", "subject": "主语", "addressee": "说话对象",
    "preceded_by": "之前有这些词", "followed_by": "之后有这些词", "next_word": "紧接的词",
    "clause_has": "分句中有这些词", "next_clause_has": "下一分句中有这些词", "position": "位置",
    "required_min_score": "必用语最低相似度", "exclusion_min_score": "排除说法最低相似度",
    "acoustic_check_min_score": "录音核对起点相似度",
    "acoustic_check_max_loss": "录音核对允许的似然降低",
    "required_check_min_score": "迎送声录音核对起点相似度", "readings": "读音",
    "unknown_speaker_margin": "说话人未定时的附加相似度", "join_pause_s": "连读的最长停顿（秒）",
    "equivalents": "等同说法词表", "means": "用语中的词", "said": "口语或方言说法",
    "parts": "分段说出", "items": "各段", "says": "这一段的说法", "within_clauses": "相距分句数",
    "within_chars": "相距字数", "any_order": "可倒过来说", "staff_alone": "工作人员单说即算的词",
    "greeting_within_s": "迎声时限（秒）", "farewell_within_s": "送声时限（秒）",
    "end_after_silence_s": "安静多久视为结束（秒）",
    # scoring
    "base": "基础分", "floor": "最低分", "counted_statuses": "计分的事件状态",
    "deductions": "扣分标准", "by_rule": "按规则", "by_kind": "按事件类型",
    "by_severity": "按严重程度", "escalation": "重复加重", "from_count": "自第几次起",
    "factor": "倍数", "bonuses": "加分", "commendation": "每条表扬加分",
    "max_per_month": "每月加分上限", "red_flag": "红旗窗口评选", "top_n": "名额",
    "disqualifying_severities": "一票否决的严重程度",
    # composed rules (rules/checks.yaml)
    "composed": "组合规则", "when": "条件", "all": "全部成立", "any": "任一成立", "not": "不成立",
    "keywords": "关键词", "need": "须说几个", "regex": "正则表达式", "phrase": "用语",
    "seconds": "秒数", "near": "前后语句", "before": "前几句", "after": "后几句",
    "of": "谁的话", "anchor": "含锚句本身",
}
# Codes a field may take, shown with their Chinese names in "should be one of".
_VALUE_NAMES: dict[str, str] = {
    **SEVERITY_NAMES, **KIND_NAMES, **SPEAKER_NAMES, **STATUS_NAMES,
    "session_start": "开始时", "session_end": "结束时", "anywhere": "任何时候",
    "question": "问句", "indirect_question": "问句或探询", "embedded_question": "所不知的内容",
    "statement": "陈述句", "microphone": "本人麦克风", "attributed": "推定",
    "clause_start": "分句开头", "clause_end": "分句末尾", "sentence_start": "句首",
    "sentence_end": "句末", "none": "无人称代词",
}

_MESSAGES = {
    "missing": "缺少此项（必填）",
    "extra_forbidden": "不是可用的字段（是否拼写有误？）",
    "greater_than_equal": "应不小于 {ge}",
    "greater_than": "应大于 {gt}",
    "less_than_equal": "应不大于 {le}",
    "less_than": "应小于 {lt}",
    "float_parsing": "应为数字", "float_type": "应为数字",
    "int_parsing": "应为整数", "int_type": "应为整数", "int_from_float": "应为整数",
    "bool_parsing": "应为 true 或 false", "bool_type": "应为 true 或 false",
    "string_type": "应为文字", "string_too_short": "不能为空",
    "string_too_long": "过长（最多 {max_length} 个字）",
    "string_pattern_mismatch": "格式不对：只能用字母、数字和 _ . -",
    "too_short": "至少应有 {min_length} 项", "too_long": "最多 {max_length} 项",
    "list_type": "应为列表，如 [甲, 乙]", "tuple_type": "应为列表，如 [甲, 乙]",
    "dict_type": "应为「键: 值」形式", "model_type": "应为「键: 值」形式",
    "model_attributes_type": "应为「键: 值」形式",
    "not_a_mapping": "最外层应为「键: 值」形式的设置（如 version: …）",
    # the core's own validators
    "blank_phrase": "用语和同义说法不能是空白",
    "missing_needs_a_place": "写了「未说时的事件」（missing）的规则须写明应说的时机"
                             "（expected_at: session_start 或 session_end）",
    "duplicate_rule_id": "规则编号 {rule_id} 用了两次",
    "undefined_group": "类别 {group} 未在「禁用语类别」（groups）中定义",
    "unknown_instead": "{instead} 不是「必用语」（required）中的规则编号（现有：{required}）",
    "readings_not_pinyin": "「{char}」须为单个汉字，读音写不带声调的拼音（如 著: [zhe]）",
    "empty_condition": "每个语境至少写一项条件",
    "not_a_pronoun": "{words} 不是可用的人称代词（可用：{allowed}）",
    "blank_words": "词不能是空白",
    "points_out_of_range": "{key} 的分数应在 0 到 100 之间",
    "no_red_flag_limit": "名额（top_n）和最低分（min_score）至少写一项，否则每个窗口都是红旗窗口",
    "floor_not_below_base": "最低分（floor）应低于基础分（base）",
    "confirmed_not_counted": "计分的事件状态（counted_statuses）须包含 confirmed（已确认）",
    "escalation_not_increasing": "自第几次起（from_count）须逐级递增",
    # composed rules' conditions (rules/checks.yaml)
    "not_a_condition": "条件应写成「算子: …」，只写一个算子（可用：{operators}）",
    "unknown_operator": "{keys} 不是可用的算子或选项（算子：{operators}）",
    "one_operator": "每个条件只写一个算子，这里有 {count} 个（{keys}）；"
                    "多个条件请放在 all / any 下",
    "option_of_another": "{keys} 不是 {operator} 的选项（可用：{options}）",
    "need_too_many": "须说几个（need）为 {need}，多于所列的 {count} 个关键词",
    "seconds_missing": "写了位置（position）须写秒数（seconds）：开头 / 结尾多少秒内",
    "empty_window": "前后语句（near）的 before、after、anchor 至少要包括一句话",
    "any_alone": "说话人写 any（任一方）时不能再写其他",
    "bad_regex": "「{regex}」不是有效的正则表达式：{error}",
    # presence rules and declared pauses (`etiquette batch --presence-rules/--pauses`, `run`)
    "time_not_quoted": "时间须加引号写成 \"HH:MM\"，如 \"09:00\"",
    "start_not_before_end": "开始时间 {start} 应早于结束时间 {end}",
    "unknown_time_zone": "未知的时区 {zone}（应为 IANA 时区名，如 Asia/Shanghai）",
    "bad_weekdays": "星期应为 1（周一）到 7（周日），不能是 {days}",
    "overlapping_periods": "服务时段 {first} 与 {second} 重叠",
    "blank_pause_status": "去向牌状态名不能是空白",
    "unknown_pause_status": "{status} 不是在岗规则中定义的去向牌状态（可用：{allowed}）",
    "not_a_list": "应为列表，每项写 window、status、start、end",
    # the site file (`etiquette run`)
    "no_such_file": "文件不存在：{file}",
    "same_channel": "staff 和 citizen 不能是同一声道（{channel}）",
    "device_or_file": "device（麦克风）和 file（回放的录音）须写且只写一项",
    "start_s_for_file": "start_s 只用于回放录音（file），麦克风不用",
    "too_few_channels": "device_channels {given} 不够：用到了第 {channel} 声道（从 0 数起）",
    "loop_for_file": "loop 只用于当作摄像头回放的视频文件，实时摄像头不能循环",
    "bad_roi": "座位区域应为至少 3 个点 [x, y]，取画面的比例 0 到 1（{error}）",
    "window_needs_input": "窗口至少要有 audio（麦克风或录音）或 camera（摄像头）之一",
    "url_or_embedded": "url（已运行的服务）和 embedded（本进程内启动服务）只能写一项",
    "url_needs_key": "写了 url 就须写 api_key 或 api_key_env（流水线密钥）",
    "rules_or_service": "rules（规则文件）和 rules_from_service（用服务中生效的规则）只能写一项",
    "rules_from_service_needs_url": "rules_from_service 需要 supervision 的 url（或 embedded）",
    "duplicate_window_id": "窗口编号 {window_id} 用了两次",
}
# PyYAML's syntax errors people make most often.
_SYNTAX = (
    ("mapping values are not allowed", "此处不能出现「键: 值」（缩进不对，或冒号后少了空格？）"),
    ("expected ',' or ']'", "方括号 [ ] 没有闭合，或项之间少了逗号"),
    ("expected ',' or '}'", "花括号 { } 没有闭合，或项之间少了逗号"),
    ("did not find expected key", "缩进没有对齐"),
    ("expected <block end>", "缩进没有对齐"),
    ("could not find expected ':'", "少了冒号「:」"),
    ("that cannot start any token", "不能用制表符（Tab）或此字符开头，缩进请用空格"),
    ("found unexpected end of stream", "引号没有闭合"),
    ("found unknown escape character", "引号中有无法识别的转义字符"),
    ("did not find expected node content", "此处缺少内容"),
    ("did not find expected '-' indicator", "列表项的缩进没有对齐"),
)


@dataclass(frozen=True)
class Worded:
    """One problem in Chinese: where (key path, line) and what."""

    loc: tuple[int | str, ...]
    line: int | None
    where: str  # 禁用语 F1-2「禁用语：问别人去」› 用语（phrases）
    what: str  # 至少应有 1 项

    def __str__(self) -> str:
        at = f"第 {self.line} 行 · " if self.line else ""
        return f"{at}{self.where}：{self.what}" if self.where else f"{at}{self.what}"


class InvalidDocument(Invalid):
    """Invalid whose detail lists the problems in Chinese, each also kept as data (a form puts
    it beside its field)."""

    def __init__(self, heading: str, problems: Sequence[Worded]) -> None:
        super().__init__("\n".join([heading, *(f"  {p}" for p in problems)]))
        self.problems = tuple(problems)


def _field(key: int | str) -> str:
    name = FIELD_NAMES.get(str(key))
    return f"{name}（{key}）" if name else str(key)


def _item(section: str, index: int, node: Any) -> str:
    """A list item: a rule by its number and name, another by its position."""
    if (section in ("required", "forbidden", "composed") and isinstance(node, dict)
            and node.get("id")):
        name = f"「{node['name']}」" if node.get("name") else ""
        return f"{FIELD_NAMES[section]} {node['id']}{name}"
    return f"第 {index + 1} 项"


def where(raw: Any, loc: Sequence[int | str]) -> str:
    """'禁用语 F1-2「禁用语：问别人去」› 用语（phrases）' for ('forbidden', 1, 'phrases')."""
    parts: list[str] = []
    node: Any = raw
    parent = ""
    for i, key in enumerate(loc):
        if isinstance(key, int) and isinstance(node, list) and key < len(node):
            node = node[key]
            label = _item(parent, key, node)
            if parent in ("required", "forbidden", "composed") and parts:
                parts[-1] = label  # 禁用语 F1-2 says the section already
            else:
                parts.append(label)
        else:
            node = node.get(key) if isinstance(node, dict) else None
            if parent == "groups" and i == 1:
                name = node.get("name") if isinstance(node, dict) else None
                parts.append(f"第 {key} 类" + (f"「{name}」" if name else ""))
            elif parent in ("by_rule", "by_kind", "by_severity", "readings"):
                parts.append(str(key))
            else:
                parts.append(_field(key) if i == len(loc) - 1 else
                             FIELD_NAMES.get(str(key), str(key)))
        parent = str(key)
    return " › ".join(parts)


def value_name(value: str) -> str:
    """A code's Chinese name (问句 for question), else the value itself."""
    return _VALUE_NAMES.get(value, value)


def _expected(context: Mapping[str, Any]) -> str:
    values = re.findall(r"'([^']*)'", str(context.get("expected", "")))
    return "、".join(f"{v}（{_VALUE_NAMES[v]}）" if v in _VALUE_NAMES else v for v in values)


def _loc(problem: Problem, raw: Any) -> tuple[int | str, ...]:
    """Where a whole-document check points (its values say which rule or group)."""
    ctx = problem.context
    if problem.type == "undefined_group":
        return ("forbidden", int(ctx["index"]), "group")
    if problem.type == "unknown_instead":
        return (str(ctx["section"]), ctx["key"], "instead")
    if problem.type == "duplicate_rule_id":
        for section in ("required", "forbidden", "composed"):
            rules = raw.get(section) if isinstance(raw, dict) else None
            ids = [r.get("id") if isinstance(r, dict) else None for r in rules or []]
            if ctx["rule_id"] in ids:
                return (section, len(ids) - 1 - ids[::-1].index(ctx["rule_id"]), "id")
    if problem.type == "points_out_of_range":
        return ("deductions", str(ctx["table"]))
    if problem.type == "escalation_not_increasing":
        return ("escalation",)
    if problem.type in ("not_a_pronoun", "blank_words"):
        return (*problem.loc, str(ctx["field"]))
    return problem.loc


def _what(problem: Problem) -> str:
    ctx = problem.context
    if problem.type == "yaml_syntax":
        said = next((zh for en, zh in _SYNTAX if en in problem.message), "写法有误")
        column = f"第 {ctx['column']} 列，" if "column" in ctx else ""
        return f"YAML 格式错误：{column}{said}"
    if problem.type in ("enum", "literal_error"):
        return f"应为以下之一：{_expected(ctx)}"
    template = _MESSAGES.get(problem.type)
    if template is None:  # a check added to the core since: its own words, marked as such
        return f"取值有误（{problem.message}）"
    return template.format(**{k: str(v) for k, v in ctx.items()})


def word(text: str, problems: Sequence[Problem]) -> list[Worded]:
    """`problems` of the document `text`, in Chinese."""
    try:
        raw = yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError):
        raw = None
    worded = []
    for p in problems:
        loc = _loc(p, raw)
        line = p.line if loc == p.loc else line_of(text, loc)
        worded.append(Worded(loc=loc, line=line, where=where(raw, loc), what=_what(p)))
    return worded


def refusal(what: str, problems: Sequence[Worded]) -> InvalidDocument:
    """The service's refusal of a document (规则, 评分方案) for these problems."""
    count = f"（{len(problems)} 处）" if len(problems) > 1 else ""
    return InvalidDocument(f"{what}有误{count}：", problems)


def invalid(what: str, text: str, error: DocumentError) -> InvalidDocument:
    """The service's refusal of a document the core's validator refused."""
    return refusal(what, word(text, error.problems))


def too_deep(what: str) -> InvalidDocument:
    return refusal(what, [Worded(loc=(), line=None, where="", what="YAML 嵌套过深")])


def console(what: str, path: Path, error: DocumentError) -> str:
    """A document's problems for the command line (`etiquette rules check`, `batch`): the file,
    then one line each, in Chinese; the core's own message where it names no problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return f"无法读取{what} {path}"
    if not error.problems:
        return str(error)
    return "\n".join([f"{path}：{what}有误：", *(f"  {w}" for w in word(text, error.problems))])
