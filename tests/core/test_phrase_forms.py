"""The forms forbidden phrases take in speech the rules were never tuned on (issue 15): words
between a phrase's parts, its parts reordered, another person or object in it, colloquial and
regional words; and the polite look-alikes of each form, which stay unflagged."""

from __future__ import annotations

import pytest

from etiquette.core.judging import judge
from etiquette.core.records import Incident, Speaker
from etiquette.core.rules import RulesError, parse_rules
from etiquette.core.sessions import session_of

from factories import ROOT
from factories.transcripts import said

RULES_TEXT = (ROOT / "rules" / "appendix_b.yaml").read_text(encoding="utf-8")


def flagged(rules, matcher, *halves: str, speaker: Speaker = Speaker.STAFF) -> list[Incident]:
    """The forbidden-phrase incidents of one speaker's utterances said 0.6 s apart."""
    heard, start = [], 0.0
    for text in halves:
        heard.append(said(text, speaker, start_s=start))
        start = heard[-1].end_s + 0.6
    incidents, _, _ = judge(rules, matcher, heard, session_of(heard))
    return [i for i in incidents if i.kind == "forbidden_phrase"]


@pytest.mark.parametrize(("halves", "rule", "parts"), [
    # words said between a phrase's parts
    (("填错了，发动机号少了两位，快点改一下",), "F3-1", ("填错了", "快点改")),
    (("四至这一栏填错了，东边和西边写反了，快点改一下",), "F3-1", ("填错了", "快点改")),
    (("有什么意见，找我们领导去",), "F6-2", ("有什么意见", "找我们领导去")),
    # ... and across the pauses between utterances, as the segmenter cuts them
    (("跟你说几遍了", "要盖章", "怎么还是不会听"), "F3-2", ("说几遍了", "怎么还是不会")),
    (("我刚才讲了好几遍了", "要银行盖章的申请书", "你怎么还是不会听"), "F3-2",
     ("讲了好几遍了", "怎么还是不会")),
    # the parts reordered, where the rule allows it
    (("先等着，还没上班",), "F5-1", ("先等着", "还没上班")),
    (("你快点，快下班了",), "F5-2", ("你快点", "快下班了")),
    (("找领导去，有意见",), "F6-2", ("找领导去", "有意见")),
    (("自己看，门口那块指示牌上写着",), "F1-3", ("自己看", "指示牌上")),
])
def test_a_phrase_heard_in_parts_is_one_hit_from_the_first_part_to_the_last(
        rules, wordings, halves, rule, parts):
    (inc,) = flagged(rules, wordings, *halves)
    assert inc.rule_id == rule
    assert inc.hit_start is not None and inc.hit_end is not None
    hit = inc.transcript[inc.hit_start:inc.hit_end]
    assert hit.startswith(parts[0]) and parts[1] in hit  # the span runs from part to part
    assert all(f"「{p}」" in inc.explanation for p in parts)  # the reviewer reads the parts found
    if len(halves) > 1:  # the clip spans the utterances the parts were said in
        first_end = 0.25 * len(halves[0])
        last_start = 0.25 * len("".join(halves[:-1])) + 0.6 * (len(halves) - 1)
        assert inc.offset_s < first_end and inc.end_s > last_start


def test_parts_are_found_only_in_order_unless_the_rule_allows_any_and_only_close_together(
        rules, wordings, matcher):
    # the wordings' parts (the meaning model reads 怎么还不会，说几遍了 as F3-2 all the same)
    assert flagged(rules, wordings, "怎么还不会，说几遍了") == []  # F3-2 is said in its order
    far = "还没上班，" + "今天窗口要先处理昨天留下的好多件材料" + "，先等着"
    assert flagged(rules, wordings, far) == []  # beyond F5-1's window of characters
    assert [i.rule_id for i in flagged(rules, matcher, "还没上班，材料放这，先等着")] == ["F5-1"]


@pytest.mark.parametrize(("text", "rule", "heard"), [
    ("听我的还是听医生的", "F4-1", "听医生的"),  # another object
    ("听你的还是听我的", "F4-1", "听我的"),  # the pronouns swapped
    ("你懂档案还是我懂档案", "F4-2", "我懂"),
    ("这个我不晓得", "F1-1", "不晓得"),  # regional words, from the rules' lexicon
    ("谁晓得，系统里查", "F1-1", "谁晓得"),
    ("你去问问别个", "F1-2", "别个"),
    ("急么子，忙着呢", "F2-1", "急么子"),
    ("要下班了，搞快点", "F5-2", "搞快点"),
    # what an irritated clerk says for the phrase's words (written for these tests, not taken
    # from an evaluation half)
    ("跟你说了好几遍了，这都不会", "F3-2", "这都不会"),
    ("教了你三遍了，还是搞不清楚", "F3-2", "搞不清楚"),
    ("流程都贴在墙上，自己去看", "F1-3", "自己去看"),
    ("牌子上写得明明白白，自己不会看", "F1-3", "自己不会看"),
    ("马上就下班了，快点签", "F5-2", "马上就下班了"),
    ("还没上班，先在外面等着", "F5-1", "先在外面等"),
    ("日期写错了，改快点", "F3-1", "改快点"),
    ("那你比我懂，你来弄", "F4-2", "你比我懂"),
    ("你投诉去啊，随便", "F6-1", "你投诉去"),
    ("要投诉就去投诉，我不怕", "F6-1", "要投诉就去投诉"),
    ("你找领导去，我管不了", "F6-2", "你找领导去"),
    ("那你问你们财务去", "F1-2", "问你们财务去"),  # 别人 as a named other
    ("这个事你去问街道的人", "F1-2", "你去问街道的人"),
    ("晓不得，你自己去查", "F1-1", "晓不得"),
    ("鬼晓得你要办哪个", "F1-1", "鬼晓得"),
    ("你慌什么，排队", "F2-1", "慌什么"),
    ("你着什么急，排队", "F2-1", "着什么急"),
    ("有什么好催的，等着", "F2-2", "有什么好催的"),
    ("名字写错了，赶紧改", "F3-1", "赶紧改"),
    ("我讲了几遍了，你还是不会", "F3-2", "还是不会"),
    ("他懂得多，还是我懂得多", "F4-2", "还是我懂"),
    ("九点才上班，先去那边坐着等", "F5-1", "才上班"),
    ("快下班了，你动作快点", "F5-2", "动作快"),
    ("投诉我，你去嘛", "F6-1", "投诉我"),
    ("有意见，找主任去", "F6-2", "找主任去"),
    # 谁晓得/哪知道 + 你 is a retort, not the polite 不知道您…吗 it shares its grammar with
    ("我哪晓得你的档案放哪里", "F1-1", "哪晓得"),
    ("谁知道你上回交的什么", "F1-1", "谁知道"),
    # round 3 (blind5's misses): regional words, other words for the same meaning (written
    # for these tests)
    ("还冇上班，先等着", "F5-1", "还冇上班"),  # 冇: 没
    ("急也没用，前面还有十个人", "F2-1", "急也没用"),
    ("你催我有什么用，系统就这么慢", "F2-2", "你催我有什么用"),
    ("催个么子催，一个个来", "F2-2", "催个么子催"),
    ("地址你填成单位的了，快点改", "F3-1", "快点改"),
    ("讲了多少回了，怎么还是记不住", "F3-2", "记不住"),
    ("到底是领导说了算，还是我说了算", "F4-1", "还是我说了算"),
    ("你懂个么子，照我说的填", "F4-2", "你懂个么子"),
    ("要关门了，赶紧把字签了", "F5-2", "赶紧"),
    ("你投诉我好了，我不怕", "F6-1", "你投诉我好了"),
    ("有么子意见跟科长讲去", "F6-2", "跟科长讲去"),
    ("我知道个么子，你问系统", "F1-1", "我知道个么子"),
    ("你找税务局的人问去", "F1-2", "你找税务局的人问去"),
    ("门口挂着牌牌，你自己去瞄一下", "F1-3", "自己去瞄"),  # 瞄: 看
    # sent elsewhere to ask, by name, and brushed off (written for these tests)
    ("不归我们这里管，你问派出所去", "F1-2", "你问派出所去"),
    ("那你去问物业公司，我这里又不是物业", "F1-2", "我这里又不是"),
    ("这个问我干什么，我又不是交警", "F1-2", "问我干什么"),
    ("问我没用，找开发商", "F1-2", "问我没用"),
    # the clerks themselves are no other people, nor is what they do not know a direction
    ("我们工作人员不知道，你自己去查", "F1-1", "不知道"),
    ("不知道的事别问我", "F1-1", "不知道"),
])
def test_other_persons_objects_and_regional_words_are_the_phrase(rules, matcher, text, rule,
                                                                  heard):
    (inc,) = flagged(rules, matcher, text)
    assert inc.rule_id == rule
    # The hit lies in the words as they were heard, not in the phrase's Mandarin.
    assert heard in inc.transcript[inc.hit_start:inc.hit_end]


@pytest.mark.parametrize("halves", [
    ("不知道您今天带身份证了吗？",),
    ("不晓得您是否方便？",),
    ("您别着急，我马上为您办理",),
    ("有意见可以填意见簿",),
    ("有什么意见，您可以找我们领导反映",),
    ("下班前一定给您办完",),
    ("快下班了，我快点给您办完",),
    ("这里填错了没关系，我快点帮您改",),
    ("您别急，写错了我们快点帮您重新改",),
    ("还没上班的话，您明天再来，先等着也行",),
    ("这个不是听我的，也不是听您的，是按规定来",),
    ("听我的还是听您的都不重要，要按规定来",),
    ("说了几遍也没关系，您怎么还不会我就再讲一遍",),
    ("我帮您问问别人",),
    ("不知道单位怎么发的，您可以回去问一下单位的人事",),
    ("您对我的服务有意见，可以去投诉，我接受",),
    ("您先等一下", "还没上班的同事马上到"),
    ("墙上贴着流程，您自己看一下，不清楚再问我",),
    ("马上下班了，我快点帮您弄完",),
    ("您比我懂，您看这样行不行",),
    ("您要投诉我也是应该的",),
    ("这个要领导签字，我找领导去给您签",),
    ("不知道哪天来领的话，看短信通知就行",),
    ("不知道怎么填，可以照着样表写",),
    ("不知道您今天方不方便",),
    ("我帮您问一下隔壁窗口的人",),
    ("我去问一下别人再回复您",),
    ("这个可以问你们社区的人去了解",),
    ("快下班了，我加快一点，让您久等了",),
    ("有意见可以找值班主任反映",),
    ("您别慌，慢慢来",),
    # what other people, named by a noun, do not know (written for these tests)
    ("这个规定很多老人都不知道",),
    ("好多人来之前都不知道要预约",),
    ("还有不知道的，打这个电话问",),  # 不知道的: whoever does not know, sent somewhere
    ("以前不知道很正常，现在知道了就行",),  # a reassurance
    # ... of the names others are sent to: directions, not brush-offs
    ("你问一下你家里人去不去",),
    ("你去问的时候带上这张单子",),
    ("你回去问清楚了再来也行",),
    ("你去问他们要个证明，拿过来就可以办",),
    ("这个不归我们窗口管，您可以去问一下社保局，我把电话写给您",),
    ("有不清楚的你问我，我去帮你查",),
    # ... and of round 3's forms
    ("又不是我说了算，要按文件来",),  # not the clerk's to decide: no retort
    ("快下班了，我赶紧给你办",),  # the clerk hurrying herself
    ("这一栏您填成公司名了，没关系，我帮您改",),
    ("说了几遍记不住也没关系，我写给您",),
])
def test_polite_look_alikes_of_the_new_forms_are_not_flagged(rules, wordings, halves):
    """The wordings' forms and their exclusions. The meaning model is measured on the held-out
    halves' look-alikes instead (benchmarks/heldout_*_results.md): a model of characters and
    sounds flags a few such lines (又不是我说了算 reads as 我说了算), which no list of
    sentences here would show honestly."""
    assert flagged(rules, wordings, *halves) == []


def test_citizens_words_are_not_judged_in_parts(rules, matcher):
    assert flagged(rules, matcher, "你快点，快下班了", speaker=Speaker.CITIZEN) == []


def test_hurrying_the_office_is_the_citizens_on_one_microphone(rules, matcher):
    """你们快点 is said to a window (the office), which is what a citizen does; a clerk hurries
    one person: 你快点."""
    assert flagged(rules, matcher, "你们快点，快下班了吧", speaker=Speaker.UNKNOWN) == []
    assert [i.rule_id for i in flagged(rules, matcher, "你快点，快下班了",
                                       speaker=Speaker.UNKNOWN)] == ["F5-2"]


def test_a_context_naming_a_form_the_rule_does_not_have_is_refused_naming_it_and_its_line():
    anchor = "{said: [不知道], sentence: indirect_question"
    bad, msg = refused(anchor, anchor.replace("不知道", "不知到"))
    assert "(F1-1) -> context -> unless[0] -> said" in msg and "不知到 is not one of" in msg
    assert f"line {_line_of(bad, '不知到')}" in msg


def _line_of(text: str, needle: str) -> int:
    return text[:text.index(needle)].count("\n") + 1


def refused(old: str, new: str) -> tuple[str, str]:
    """The shipped rules with `old` replaced by `new`, and the message they are refused with."""
    assert old in RULES_TEXT
    bad = RULES_TEXT.replace(old, new)
    with pytest.raises(RulesError) as e:
        parse_rules(bad, "appendix_b.yaml")
    return bad, str(e.value)


def test_an_unknown_lexicon_field_is_refused_naming_entry_field_and_line():
    bad, msg = refused("- {means: 知道, said: [晓得]}", "- {means: 知道, sayd: [晓得]}")
    assert "matching -> equivalents[2] -> sayd" in msg
    assert f"line {_line_of(bad, 'sayd')}" in msg


def test_a_window_that_is_not_a_number_is_refused_naming_rule_field_and_line():
    anchor = "    parts:\n      within_clauses: 4\n      within_chars: 30\n      any_order: true"
    bad, msg = refused(anchor, anchor.replace("within_chars: 30", "within_chars: 三十"))
    assert "(F3-1) -> parts -> within_chars" in msg
    assert f"line {_line_of(bad, 'within_chars: 三十')}" in msg
    items = "        - {says: [快点改, 快点×改, 改快点, 赶快改, 赶紧改]}   # 快点重新改；改快点\n"
    one = RULES_TEXT.replace(items, "")
    assert one != RULES_TEXT
    with pytest.raises(RulesError, match=r"\(F3-1\) -> parts -> items"):
        parse_rules(one)  # a phrase of one part is a phrase, not parts


def test_a_required_phrases_parts_are_refused_like_a_forbidden_ones_naming_rule_and_line():
    anchor = "    parts:\n      within_clauses: 4\n      within_chars: 30\n      items:"
    bad, msg = refused(anchor, anchor.replace("within_clauses: 4", "within_clauses: 四"))
    assert "(R-greeting) -> parts -> within_clauses" in msg
    assert f"line {_line_of(bad, 'within_clauses: 四')}" in msg
