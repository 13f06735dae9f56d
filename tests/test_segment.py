"""Word segmentation of scripts written without spaces (transforms/segment.py).

The sentences here are small samples written for these tests (plain,
everyday sentences with their English translations); the reference
segmentations of the Chinese ones follow the usual word boundaries of
segmented corpora (CTB/PKU style), written by hand.
"""
import sys

import pytest

from xlaug.transforms import segment
from xlaug.transforms.errors import UsageError
from xlaug.transforms.record import Record, Rejected
from xlaug.transforms.segment import join_tokens, segment_words, split_sentences

pytest.importorskip("icu4py", reason="the 'segment' extra (icu4py) is part of the test install")

# Chinese, with a hand-made reference segmentation (words joined by |).
ZH_REF = [
    "我|昨天|在|图书馆|借|了|三|本|书|。",
    "这|家|餐厅|的|菜|很|好吃|，|但是|价格|有点|贵|。",
    "我们|明天|早上|八点|在|火车站|见面|。",
    "他|每天|晚上|都|会|给|孩子|讲|故事|。",
    "请|把|窗户|关上|，|外面|太|冷|了|。",
    "她|正在|学习|怎么|用|电脑|写|程序|。",
    "这个|城市|的|交通|越来越|拥挤|了|。",
    "医生|建议|他|多|喝|水|，|少|吃|甜食|。",
]

# One sentence in each of the other unspaced scripts.
OTHERS = {
    "ja": "私は毎朝駅まで歩いて行きます。",
    "th": "ฉันชอบกินข้าวผัดกับไข่ดาว",
    "lo": "ຂ້ອຍຢາກໄປທ່ຽວປະເທດລາວ",
    "km": "ខ្ញុំចូលចិត្តអានសៀវភៅ",
    "my": "ကျွန်တော်ထမင်းစားပြီးပြီ။",
}

# Good, human-written en-zh and en-ja pairs (translations of each other).
EN_ZH = [
    ("I borrowed three books from the library yesterday.", "我昨天在图书馆借了三本书。"),
    ("The food at this restaurant is delicious, but a little expensive.", "这家餐厅的菜很好吃，但是价格有点贵。"),
    ("We will meet at the train station at eight tomorrow morning.", "我们明天早上八点在火车站见面。"),
    ("He tells his child a story every evening.", "他每天晚上都会给孩子讲故事。"),
    ("Please close the window, it is too cold outside.", "请把窗户关上，外面太冷了。"),
    ("She is learning how to write programs on a computer.", "她正在学习怎么用电脑写程序。"),
    ("Traffic in this city is getting more and more crowded.", "这个城市的交通越来越拥挤了。"),
    ("The doctor advised him to drink more water and eat fewer sweets.", "医生建议他多喝水，少吃甜食。"),
    ("Alice moved to Shanghai in 2019 to work for a bank.", "Alice在2019年搬到上海，在一家银行工作。"),
    ("My brother plays football with his friends on weekends.", "我弟弟周末和朋友一起踢足球。"),
]
EN_JA = [
    ("I walk to the station every morning.", "私は毎朝駅まで歩いて行きます。"),
    ("This book is very interesting.", "この本はとても面白いです。"),
    ("It rained heavily yesterday, so I stayed at home.", "昨日は大雨だったので、家にいました。"),
    ("Where is the nearest hospital?", "一番近い病院はどこですか。"),
    ("My sister works at a hotel in Kyoto.", "妹は京都のホテルで働いています。"),
    ("We had dinner at an Italian restaurant last night.", "昨夜はイタリア料理のレストランで夕食を食べました。"),
    ("Please turn off the lights when you leave the room.", "部屋を出るときは電気を消してください。"),
    ("He has been studying Japanese for three years.", "彼は三年間日本語を勉強しています。"),
    ("The meeting will start at ten o'clock.", "会議は十時に始まります。"),
    ("I bought a new computer last week.", "先週新しいパソコンを買いました。"),
]


def _boundaries(words):
    out, pos = set(), 0
    for w in words:
        pos += len(w)
        out.add(pos)
    return out


def test_chinese_words_per_sentence_match_a_reference_segmentation():
    got_words = ref_words = hits = 0
    for ref in ZH_REF:
        gold = ref.split("|")
        words = segment_words("".join(gold))
        assert "".join(words) == "".join(gold)  # nothing lost or added
        got_words += len(words)
        ref_words += len(gold)
        hits += len(_boundaries(words) & _boundaries(gold))
    precision, recall = hits / got_words, hits / ref_words
    assert precision >= 0.85 and recall >= 0.85, (precision, recall)
    # Words per sentence near the reference (whitespace splitting would give 1-2).
    assert got_words / len(ZH_REF) == pytest.approx(ref_words / len(ZH_REF), rel=0.15)


@pytest.mark.parametrize("lang", sorted(OTHERS))
def test_each_unspaced_script_is_segmented_and_joins_back(lang):
    text = OTHERS[lang]
    words = segment_words(text)
    letters = [w for w in words if any(c.isalpha() for c in w)]
    assert len(letters) >= 3, words
    assert join_tokens(words) == text  # no spaces put between these scripts' words


def test_latin_names_and_digits_inside_chinese_stay_whole():
    words = segment_words("Alice在2019年搬到New York，在Google工作。")
    for w in ("Alice", "2019", "New", "York", "Google"):
        assert w in words
    assert "年" in words and "，" in words


def test_spaced_text_splits_as_before():
    assert segment_words("Don't stop, e.g. here!") == ("Don't", "stop", ",", "e.g.", "here", "!")
    assert segment_words("서울에 갔어요 .") == ("서울에", "갔어요", ".")  # Korean: spaces


def test_whitespace_segmenter_does_not_segment():
    assert segment_words("我昨天在图书馆借了三本书。", "whitespace") == ("我昨天在图书馆借了三本书", "。")


def test_join_tokens_spaces_only_between_spaced_words():
    assert join_tokens(["我", "昨天", "去", "了", "Berlin", "。"]) == "我昨天去了 Berlin。"
    assert join_tokens(["I", "saw", "北京", "大学", "yesterday", "."]) == "I saw 北京大学 yesterday ."
    assert join_tokens(["ฉัน", "ชอบ", "กิน"]) == "ฉันชอบกิน"


def test_sentence_split_handles_every_scripts_marks():
    assert split_sentences("你好。今天天气很好！你去哪儿？") == ["你好。", "今天天气很好！", "你去哪儿？"]
    assert split_sentences("駅まで歩きます。雨ですか？") == ["駅まで歩きます。", "雨ですか？"]
    assert split_sentences("ខ្ញុំទៅផ្សារ។ ខ្ញុំទិញផ្លែឈើ។") == ["ខ្ញុំទៅផ្សារ។", "ខ្ញុំទិញផ្លែឈើ។"]
    assert split_sentences("ကျွန်တော် သွားတယ်။ ဝယ်ခဲ့တယ်။") == ["ကျွန်တော် သွားတယ်။", "ဝယ်ခဲ့တယ်။"]
    assert split_sentences("One. Two!  Three? four") == ["One.", "Two!", "Three?", "four"]
    # Not a sentence end before a lowercase word (ICU's rule): tokenised
    # lowercased text stays one piece.
    assert split_sentences("the cat sat . a dog ran .") == ["the cat sat . a dog ran ."]


def test_missing_icu_is_a_one_line_error_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "icu4py.breakers", None)  # import fails
    segment._word_breaker.cache_clear()
    try:
        with pytest.raises(UsageError) as e:
            segment_words("我昨天在图书馆借了三本书。")
        assert "xlaug[segment]" in str(e.value) and "\n" not in str(e.value)
        assert segment_words("plain English text") == ("plain", "English", "text")  # not needed there
        with pytest.raises(UsageError, match=r"xlaug\[segment\]"):
            segment.check_segmenter("icu")
    finally:
        segment._word_breaker.cache_clear()


def _kept_share(pairs, src_lang, tgt_lang, **ratio):
    from xlaug.transforms.filter_step import FilterStep
    from xlaug.transforms.filters import DEFAULT_CONFIG, build_filters
    config = dict(DEFAULT_CONFIG)
    if ratio:
        config["length_ratio"] = ratio
    step = FilterStep(build_filters(config))
    records = [Record(id=str(i), src_lang=src_lang, tgt_lang=tgt_lang, src_text=s, tgt_text=t)
               for i, (s, t) in enumerate(pairs)]
    out = list(step.run(records))
    kept = [r for r in out if not isinstance(r, Rejected)]
    return len(kept) / len(records), [r for r in out if isinstance(r, Rejected)]


@pytest.mark.parametrize("pairs,tgt", [(EN_ZH, "zh"), (EN_JA, "ja")])
def test_default_filters_keep_good_en_zh_and_en_ja_pairs(pairs, tgt):
    share, rejected = _kept_share(pairs, "en", tgt)
    assert share >= 0.9, [(r.record.tgt_text, r.reason, r.detail) for r in rejected]
    # Counting whitespace tokens instead (the old unit) throws most of them away.
    old, _ = _kept_share(pairs, "en", tgt, unit="tokens")
    assert old < 0.5


def test_length_scores_count_words_of_segmented_chinese():
    from xlaug.transforms.filters import LengthFilter
    text = "我昨天在图书馆借了三本书。"
    scores = LengthFilter().score(Record(id="a", src_text=text))
    # Reference: 我 昨天 在 图书馆 借 了 三 本 书 (9; the 。 not counted).
    assert 7 <= scores["len_tokens_src"] <= 10
    assert scores["len_tokens_src"] == len(segment_words(text)) - 1
    assert LengthFilter(segmenter="whitespace").score(Record(id="a", src_text=text))["len_tokens_src"] == 1
    assert "segmented" in LengthFilter().score_units["len_tokens_src"]


def test_code_switched_chinese_has_no_spurious_spaces():
    from xlaug.transforms.codeswitch import CodeSwitchStep
    src = ("I", "borrowed", "three", "books", "from", "the", "library", "yesterday", ".")
    tgt = ("我", "昨天", "在", "图书馆", "借", "了", "三", "本", "书", "。")  # as the aligner left them
    links = ((0, 0), (1, 4), (2, 6), (3, 8), (5, 3), (6, 3), (7, 1), (8, 9))
    rec = Record(id="p", src_lang="en", tgt_lang="zh", src_tokens=src, tgt_tokens=tgt, alignment=links)
    step = CodeSwitchStep(alpha=0.5, matrix="tgt", samples=3, seed=1)
    outs = [r for r in step.run([rec]) if not isinstance(r, Rejected)]
    assert outs
    for out in outs:
        text = out.tgt_text
        assert text == join_tokens(out.tgt_tokens)
        # A space only ever sits next to a Latin word.
        for k, c in enumerate(text):
            if c == " ":
                assert text[k - 1].isascii() or text[k + 1].isascii(), text


def test_lexicon_replacement_segments_and_joins_chinese():
    from xlaug.dictionaries import Lexicon
    from xlaug.transforms.lexicon_replace import LexiconReplaceStep
    lex = Lexicon(src_lang="zh", tgt_lang="en")
    lex.add(("昨天",), ("yesterday",))
    lex.add(("书",), ("books",))
    step = LexiconReplaceStep(lex, prob=1.0, stopwords=[], seed=0)
    out = [r for r in step.run([Record(id="z", src_lang="zh", src_text="我昨天在图书馆借了三本书。")])
           if not isinstance(r, Rejected)]
    assert out and out[0].tgt_text == "我 yesterday 在图书馆借了三本 books。"


def test_projection_onto_untokenised_chinese_lands_on_whole_words():
    from xlaug.transforms.project import ProjectStep
    src = ("Alice", "visited", "Peking", "University", "yesterday", ".")
    labels = ("B-PER", "O", "B-ORG", "I-ORG", "O", "O")
    tgt_text = "Alice昨天参观了北京大学。"
    tgt = segment_words(tgt_text)
    assert tgt == ("Alice", "昨天", "参观", "了", "北京", "大学", "。")
    links = ((0, 0), (1, 2), (2, 4), (3, 5), (4, 1), (5, 6))
    rec = Record(id="p", src_lang="en", tgt_lang="zh", src_tokens=src, src_labels=labels,
                 tgt_text=tgt_text, alignment=links)
    out = [r for r in ProjectStep().run([rec]) if not isinstance(r, Rejected)]
    assert len(out) == 1
    assert out[0].tgt_tokens == tgt
    assert out[0].tgt_labels == ("B-PER", "O", "O", "O", "B-ORG", "I-ORG", "O")


def test_aligner_tokenizes_raw_chinese_into_words():
    from xlaug.transforms.align import AlignStep
    rec = Record(id="a", src_text="I borrowed three books .", tgt_text="我昨天在图书馆借了三本书。")
    words = AlignStep("unused", tokenize="words")._tokens(rec, "tgt")
    assert words == segment_words(rec.tgt_text) and 8 <= len(words) <= 11
    # Pre-tokenised text keeps its tokens; a raw clause in it is still segmented.
    assert AlignStep("unused")._tokens(rec, "src") == ("I", "borrowed", "three", "books", ".")
    assert AlignStep("unused")._tokens(rec, "tgt") == words
    assert AlignStep("unused", segmenter="whitespace")._tokens(rec, "tgt") == ("我昨天在图书馆借了三本书。",)


def test_a_run_in_an_unspaced_language_needs_icu_before_any_work(monkeypatch):
    from xlaug.pipelines import filter as filter_cmd
    from xlaug.pipelines.cli import parse_args

    def args(*extra):
        return parse_args(["run", "filter", "--input", "in.tsv", "--output", "out", *extra])[2]

    monkeypatch.setitem(sys.modules, "icu4py.breakers", None)
    segment._word_breaker.cache_clear()
    try:
        with pytest.raises(UsageError, match=r"pip install 'xlaug\[segment\]'"):
            filter_cmd.build_stages(args("--src-lang", "en", "--tgt-lang", "zho_Hans"))
        # English-German, or segmentation turned off: no ICU needed.
        assert filter_cmd.build_stages(args("--src-lang", "en", "--tgt-lang", "de"))
        assert filter_cmd.build_stages(args("--tgt-lang", "ja", "--segmenter", "whitespace"))
    finally:
        segment._word_breaker.cache_clear()


def test_filter_run_keeps_good_en_zh_pairs_and_reports_units(tmp_path):
    import json
    import os

    from xlaug.pipelines import common
    from xlaug.pipelines import filter as filter_cmd
    from xlaug.pipelines.cli import parse_args
    corpus = tmp_path / "enzh.tsv"
    corpus.write_text("".join(f"{s}\t{t}\n" for s, t in EN_ZH), encoding="utf-8")
    out = str(tmp_path / "out")
    args = parse_args(["run", "filter", "--input", str(corpus), "--output", out,
                       "--src-lang", "en", "--tgt-lang", "zh"])[2]
    report = common.run_pipeline(args, filter_cmd.build_stages(args), command="filter")
    assert report["kept"] >= 9 and report["identity_ok"]
    units = json.load(open(os.path.join(out, "report.json")))["score_units"]
    assert "segmenter auto" in units["length_ratio"] and units["len_chars_tgt"].startswith("characters")


def test_text_export_of_code_switched_chinese_has_no_spurious_spaces():
    from xlaug.transforms.export import export_rows
    toks = ("我", "昨天", "在", "library", "借", "了", "三", "本", "书", "。")
    rec = Record(id="c", src_lang="zh", tgt_lang="zh-en", tgt_tokens=toks,
                 token_langs=("zh",) * 3 + ("en",) + ("zh",) * 6)
    row, = export_rows(rec, "text", None, None)
    assert row["text"] == "我昨天在 library 借了三本书。" and len(row["langs"]) == len(toks)
