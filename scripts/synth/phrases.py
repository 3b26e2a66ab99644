"""Phrase bank for generated sessions, and a lint that keeps every turn's tags honest.

Rule ids are those of rules/appendix_b.yaml (Appendix B 二(七) forbidden phrases, 二(二)–(六)
required phrases). The lint is a plain substring/regex check of the *script text*: a staff turn
whose words contain a forbidden phrase must list its id in `expect` (or, for a polite look-alike
such as 不知道您是否方便…, in `decoys`); it never looks at recognition output.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

FORBIDDEN_CANON = {
    "F1-1": "不知道", "F1-2": "问别人去", "F1-3": "有指示牌，自己看", "F2-1": "急什么，忙着呢",
    "F2-2": "催什么催", "F3-1": "填错了，快点改", "F3-2": "说几遍了，怎么还不会",
    "F4-1": "听我的，还是听你的", "F4-2": "你懂，还是我懂", "F5-1": "还没上班，先等着",
    "F5-2": "快下班了，你快点", "F6-1": "你去投诉我啊", "F6-2": "有意见找领导去",
}

# What counts as saying a forbidden phrase (punctuation removed before matching).
FORBIDDEN_CORE = {
    "F1-1": r"不知道|不晓得",
    "F1-2": r"问别人去|找别人去",
    "F1-3": r"有指示牌.{0,2}自己看|自己看指示牌|指示牌自己看",
    "F2-1": r"急什么.{0,4}忙着呢|急什么急",
    "F2-2": r"催什么|别催了",
    # the parts with the error said between them, either way round (填错了，少了两位，快点改)
    "F3-1": r"[填写画搞]错了.{0,12}快点改|快点改.{0,12}[填写画搞]错了|又填错了",
    "F3-2": r"说了?几遍了.{0,3}(怎么)?还不会",
    "F4-1": r"听我的.{0,1}还是听.{1,3}的|听.{1,3}的.{0,1}还是听我的",  # 听我的还是听医生的
    "F4-2": r"你懂.{0,1}还是我懂",
    "F5-1": r"还没上班.{0,2}先等着|先等着.{0,2}还没上班",
    "F5-2": r"[快要]下班了.{0,1}(你快点|搞快点)|你快点.{0,1}快下班了",
    "F6-1": r"你去投诉我|有本事你去投诉",
    "F6-2": r"有(什么)?意见.{0,1}找(我们)?领导去|找领导去.{0,1}有意见",
}

# Words a turn may share with a forbidden phrase without saying it: a staff turn with any of
# these must declare the rule in `decoys` (documentation for false-positive analysis).
DECOY_WORDS = {
    "F1-1": r"不知道", "F1-2": r"问别人|别人去|问一下同事", "F1-3": r"指示牌|自己看",
    "F2-1": r"急|忙着", "F2-2": r"催", "F3-1": r"填错", "F3-2": r"几遍|说一遍|还不会",
    "F4-1": r"听我|听你", "F4-2": r"你懂|我懂", "F5-1": r"上班|先等着", "F5-2": r"下班|快点",
    "F6-1": r"投诉", "F6-2": r"有意见|找领导|领导",
}

REQUIRED_CORE = {
    "R-greeting": r"您好请问您(需要|要)?办理什么业务|您好请问有什么可以帮您",
    "R-farewell": r"您的业务已(经)?办好|请收好您的材料",
    "R-phone": r"您好这里是.{2,20}请问有什么事可以帮您",
    "R-documents": r"请您出示",
    "R-wait": r"请稍(候|等)我马上为您办理",
    "R-sorry-materials": r"对不起根据规定这笔业务需要提供.{1,8}材料请您补充材料",
    "R-sorry-survey": r"对不起根据规定这笔业务需要(实地勘察|专家论证)",
    "R-sorry-refuse": r"对不起根据规定我们不能为您办理这项业务",
}

_PUNCT = re.compile(r"[，。！？、；：,.!?;:（）()…\s]")


def plain(text: str) -> str:
    return _PUNCT.sub("", text)


def forbidden_in(text: str) -> set[str]:
    p = plain(text)
    return {rid for rid, rx in FORBIDDEN_CORE.items() if re.search(rx, p)}


def required_in(text: str) -> set[str]:
    p = plain(text)
    return {rid for rid, rx in REQUIRED_CORE.items() if re.search(rx, p)}


def decoy_words_in(text: str) -> set[str]:
    p = plain(text)
    return {rid for rid, rx in DECOY_WORDS.items() if re.search(rx, p)}


def lint_turn(speaker: str, text: str, expect: Iterable[str], required: Iterable[str],
              decoys: Iterable[str]) -> list[str]:
    """Problems with a turn's tags (empty list when consistent)."""
    problems = []
    expect, required, decoys = set(expect), set(required), set(decoys)
    said = forbidden_in(text)
    unknown = (expect | decoys) - set(FORBIDDEN_CANON)
    if unknown:
        problems.append(f"unknown rule ids {sorted(unknown)}")
    if speaker == "staff":
        if said - expect - decoys:
            problems.append(f"says {sorted(said - expect - decoys)} but expect={sorted(expect)}")
        if expect - said:
            problems.append(f"expects {sorted(expect - said)} it does not say")
        missing_decoys = decoy_words_in(text) - expect - decoys
        if missing_decoys:
            problems.append(f"shares words with {sorted(missing_decoys)}: list them in decoys")
    else:
        if expect:
            problems.append("citizen turns never expect incidents")
        if said - decoys:
            problems.append(f"citizen says {sorted(said - decoys)}: list in decoys")
    req = required_in(text) if speaker == "staff" else set()
    if req != required:
        problems.append(f"required tags {sorted(required)} but text has {sorted(req)}")
    return [f"{speaker} {text!r}: {p}" for p in problems]


def lint_session(turns: Iterable[Any]) -> list[str]:
    out = []
    for t in turns:
        out += lint_turn(t.speaker, t.text, t.expect, t.required, t.decoys)
    return out


# --- the bank --------------------------------------------------------------------------------
# Staff sentences that say a forbidden phrase: standalone, embedded, with the small natural
# variations the specification's "等" allows. Each entry: (text, [rule ids]).
STAFF_FORBIDDEN: list[tuple[str, list[str]]] = [
    ("不知道", ["F1-1"]),
    ("这个我不知道，这不归我们管", ["F1-1"]),
    ("具体什么时候批下来，我也不知道", ["F1-1"]),
    ("不知道，你自己去网上查吧", ["F1-1"]),
    ("问别人去", ["F1-2"]),
    ("这事你问别人去吧", ["F1-2"]),
    ("别在这儿问了，问别人去", ["F1-2"]),
    ("不知道，问别人去", ["F1-1", "F1-2"]),
    ("这个我也不知道，你问别人去吧", ["F1-1", "F1-2"]),
    ("有指示牌，自己看", ["F1-3"]),
    ("门口有指示牌，自己看去", ["F1-3"]),
    ("窗口在哪儿，有指示牌，自己看吧", ["F1-3"]),
    ("自己看指示牌，别老问我", ["F1-3"]),
    ("急什么，忙着呢", ["F2-1"]),
    ("急什么急，没看我忙着呢", ["F2-1"]),
    ("你急什么，我这忙着呢", ["F2-1"]),
    ("急什么，我这边忙着呢，等会儿", ["F2-1"]),
    ("催什么催", ["F2-2"]),
    ("催什么催，前面还有人呢", ["F2-2"]),
    ("别催了，越催越慢", ["F2-2"]),
    ("催什么催，排着队呢", ["F2-2"]),
    ("填错了，快点改", ["F3-1"]),
    ("你这又填错了，快点改一下", ["F3-1"]),
    ("这里填错了，快点改了再拿过来", ["F3-1"]),
    ("又填错了，快点改", ["F3-1"]),
    ("说几遍了，怎么还不会", ["F3-2"]),
    ("跟你说几遍了，怎么还不会填", ["F3-2"]),
    ("都说了几遍了，怎么还不会", ["F3-2"]),
    ("说几遍了你还不会", ["F3-2"]),
    ("听我的，还是听你的", ["F4-1"]),
    ("到底是听我的，还是听你的", ["F4-1"]),
    ("你说是听我的，还是听你的", ["F4-1"]),
    ("这事听我的，还是听你的", ["F4-1"]),
    ("你懂，还是我懂", ["F4-2"]),
    ("你懂还是我懂啊，照我说的做", ["F4-2"]),
    ("规定是你懂，还是我懂", ["F4-2"]),
    ("你懂，还是我懂，按我说的填", ["F4-2"]),
    ("还没上班，先等着", ["F5-1"]),
    ("还没上班，先等着吧", ["F5-1"]),
    ("现在还没上班，先等着去", ["F5-1"]),
    ("我们还没上班呢，先等着", ["F5-1"]),
    ("快下班了，你快点", ["F5-2"]),
    ("快下班了，你快点说", ["F5-2"]),
    ("都快下班了，你快点吧", ["F5-2"]),
    ("我们快下班了，你快点填", ["F5-2"]),
    ("你去投诉我啊", ["F6-1"]),
    ("有本事你去投诉我啊", ["F6-1"]),
    ("不满意，你去投诉我啊", ["F6-1"]),
    ("你去投诉我吧，我不怕", ["F6-1"]),
    ("有意见找领导去", ["F6-2"]),
    ("有意见你找领导去", ["F6-2"]),
    ("对我有意见找领导去", ["F6-2"]),
    ("有意见找领导去，别跟我说", ["F6-2"]),
]

# Polite staff sentences that share words with forbidden phrases and must NOT be flagged.
STAFF_LOOKALIKE: list[tuple[str, list[str]]] = [
    ("不知道您是否方便留个电话", ["F1-1"]),
    ("请您核对一下有没有填错的地方", ["F3-1"]),
    ("对服务有意见可以扫码评价", ["F6-2"]),
    ("您不用急，我马上为您办理", ["F2-1"]),
    ("我们的下班时间是下午五点", ["F5-2"]),
    ("指示牌上有具体的窗口位置，我带您过去", ["F1-3"]),
    ("您先听我说一下流程", ["F4-1"]),
    ("我再给您说一遍", ["F3-2"]),
    ("别着急，前面还有两位，请您稍等", ["F2-1"]),
    ("如果不知道怎么填，可以看一下样表", ["F1-1"]),
    ("我们上午九点上班，您可以先取号", ["F5-1"]),
    ("这个问题我帮您问一下同事", ["F1-2"]),
    ("有意见和建议欢迎您提出来", ["F6-2"]),
    ("投诉电话就在窗口旁边，您有需要可以拨打", ["F6-1"]),
    ("我帮您催一下后台的审核", ["F2-2"]),
    ("这个规定我懂，我给您解释一下", ["F4-2"]),
]

# Citizen sentences that sound forbidden: they must not count (stereo; never used in mono).
CITIZEN_FORBIDDEN: list[tuple[str, list[str]]] = [
    ("我不知道啊，第一次来办", ["F1-1"]),
    ("那我问别人去", ["F1-2"]),
    ("急什么，我这不是忙着呢，刚下班赶过来", ["F2-1"]),
    ("我有意见找领导去", ["F6-2"]),
    ("快下班了，你快点帮我办一下吧", ["F5-2"]),
    ("填错了，那我快点改", ["F3-1"]),
    ("还没上班啊，那我先等着", ["F5-1"]),
    ("说几遍了我还是不会填，您再教教我", ["F3-2"]),
    ("到底是听我的，还是听你的，你们说清楚", ["F4-1"]),
    ("有指示牌是吧，那我自己看", ["F1-3"]),
    ("我可不是催您，就是问问", ["F2-2"]),
    ("你懂，还是我懂，咱们都不懂这个", ["F4-2"]),
    ("再这样我就去投诉", ["F6-1"]),
]

GREETING = "您好，请问您需要办理什么业务"
GREETING_VARIANTS = ["您好，请问您需要办理什么业务", "您好，请问您需要办理什么业务",
                     "您好，请问您要办理什么业务", "您好，请问有什么可以帮您"]
FAREWELL_1 = "您的业务已办好，还有什么需要为您服务的吗"
FAREWELL_2 = "请收好您的材料，再见"
PHONE = "您好，这里是南昌市政务服务中心三号窗口，请问有什么事可以帮您"
WAIT = "请稍候，我马上为您办理"
SORRY_MATERIALS = "对不起，根据规定，这笔业务需要提供户口本材料，请您补充材料"
SORRY_SURVEY = "对不起，根据规定，这笔业务需要实地勘察，我们会在五个工作日内予以答复，实在抱歉"
SORRY_REFUSE = "对不起，根据规定，我们不能为您办理这项业务，请您谅解"
DOCUMENTS = ["您好，请您出示身份证", "请您出示户口本", "请您出示营业执照", "您好，请您出示社保卡"]

STAFF_NEUTRAL = [
    "请填写这张申请表",
    "这个业务在我们窗口就可以办",
    "请在这里签字",
    "您的材料齐全了",
    "身份证复印件也需要一份",
    "办好以后会短信通知您",
    "请您在这里确认一下信息",
    "这份表格请用黑色签字笔填写",
    "请看一下摄像头，拍个照",
    "这一栏写您的联系地址",
    "业务办理需要三个工作日",
    "下一位",
    "社保卡补办要交二十元工本费",
    "请把申请表和身份证一起递给我",
]

CITIZEN_NEUTRAL = [
    "你好，我想办理社保卡",
    "我来办营业执照变更",
    "好的，给你",
    "需要多长时间",
    "这个表怎么填",
    "身份证在这里",
    "我要补办户口本",
    "请问公积金在哪里提取",
    "好的，我知道了",
    "那我明天再来",
    "这里要写什么",
    "我填好了",
]
CITIZEN_THANKS = ["好的，谢谢", "谢谢你", "好，麻烦你了"]


def auto_decoys(text: str, expect: Iterable[str] = ()) -> list[str]:
    """Rule ids whose words the text shares without being expected (for the `decoys` tag)."""
    return sorted((decoy_words_in(text) | forbidden_in(text)) - set(expect))
