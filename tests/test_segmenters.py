"""Optional per-language segmenters (transforms/segment.py): ``kiwi`` for
Korean morphemes (kiwipiepy), ``fugashi`` for Japanese (MeCab with UniDic).

The sentences are small samples written for these tests: English with NER
labels and hand translations into Korean with the entities' surface forms;
Japanese with a hand segmentation in UniDic's short units (verb stems,
auxiliaries and particles apart: 買い|まし|た).
"""
import sys

import pytest

from xlaug.transforms import segment
from xlaug.transforms.errors import UsageError
from xlaug.transforms.segment import segment_words

EN_KO = [  # English, Korean, entities as TYPE:english=korean
    ("The European Parliament met in Berlin yesterday .", "유럽 의회는 어제 베를린에서 회의를 열었다 .",
     "ORG:European Parliament=유럽 의회|LOC:Berlin=베를린"),
    ("Angela Merkel visited Paris last week .", "앙겔라 메르켈은 지난주에 파리를 방문했다 .",
     "PER:Angela Merkel=앙겔라 메르켈|LOC:Paris=파리"),
    ("Samsung opened a new factory in Vietnam .", "삼성은 베트남에 새 공장을 열었다 .",
     "ORG:Samsung=삼성|LOC:Vietnam=베트남"),
    ("The United Nations sent aid to Syria .", "유엔은 시리아에 원조를 보냈다 .", "ORG:United Nations=유엔|LOC:Syria=시리아"),
    ("Kim Yuna won a medal at the Olympics .", "김연아는 올림픽에서 메달을 땄다 .", "PER:Kim Yuna=김연아|MISC:Olympics=올림픽"),
    ("I met my friend at Seoul Station .", "나는 서울역에서 친구를 만났다 .", "LOC:Seoul Station=서울역"),
    ("Google bought a company in London .", "구글은 런던의 한 회사를 샀다 .", "ORG:Google=구글|LOC:London=런던"),
    ("The President of France spoke with Obama .", "프랑스 대통령은 오바마와 이야기했다 .",
     "LOC:France=프랑스|PER:Obama=오바마"),
    ("Toyota sells many cars in America .", "도요타는 미국에서 많은 차를 판다 .", "ORG:Toyota=도요타|LOC:America=미국"),
    ("The Commission will answer the question of Mr Barroso .", "위원회는 바로소 씨의 질문에 답할 것이다 .",
     "ORG:Commission=위원회|PER:Barroso=바로소"),
    ("We flew from Tokyo to Busan .", "우리는 도쿄에서 부산으로 날아갔다 .", "LOC:Tokyo=도쿄|LOC:Busan=부산"),
    ("The Red Cross helped people in Haiti .", "적십자는 아이티의 사람들을 도왔다 .", "ORG:Red Cross=적십자|LOC:Haiti=아이티"),
]

JA_REF = [
    "私|は|毎朝|駅|まで|歩い|て|行き|ます|。", "この|本|は|とても|面白い|です|。",
    "妹|は|京都|の|ホテル|で|働い|て|い|ます|。", "先週|新しい|パソコン|を|買い|まし|た|。",
    "会議|は|十|時|に|始まり|ます|。", "一番|近い|病院|は|どこ|です|か|。",
    "昨日|友達|と|映画|を|見|まし|た|。", "日本|の|夏|は|とても|暑い|です|。",
    "彼|は|毎日|電車|で|会社|に|通っ|て|い|ます|。", "この|町|に|は|古い|お寺|が|たくさん|あり|ます|。",
]


def _boundaries(words):
    out, pos = set(), 0
    for w in words[:-1]:
        pos += len(w)
        out.add(pos)
    return out


def _boundary_pr(seg):
    tp = n_pred = n_gold = 0
    for ref in JA_REF:
        gold = ref.split("|")
        got = seg("".join(gold))
        assert "".join(got) == "".join(gold)  # no character lost or added
        g, p = _boundaries(gold), _boundaries(got)
        tp, n_pred, n_gold = tp + len(g & p), n_pred + len(p), n_gold + len(g)
    return tp / n_pred, tp / n_gold


def test_kiwi_splits_korean_particles_off_and_keeps_every_character():
    pytest.importorskip("kiwipiepy")
    words = segment_words("유럽 의회는 어제 베를린에서 회의를 했다 . Google에서 일했어요", "kiwi")
    for w in ("의회", "는", "베를린", "에서", "Google", "."):
        assert w in words
    assert "".join(words) == "유럽의회는어제베를린에서회의를했다.Google에서일했어요"  # contractions stay whole
    assert segment_words("서울에 갔어요 .") == ("서울에", "갔어요", ".")  # the default: spaces


def test_fugashi_keeps_japanese_verb_endings_whole():
    pytest.importorskip("fugashi")
    pytest.importorskip("icu4py")
    p_mecab, r_mecab = _boundary_pr(lambda t: segment_words(t, "fugashi"))
    p_icu, r_icu = _boundary_pr(segment_words)
    # Measured: fugashi P 0.988 R 1.000; ICU P 0.939 R 0.939 (ICU: 買い|ま|した, 歩|い|て)
    assert p_mecab >= 0.97 and r_mecab >= 0.97
    assert p_mecab > p_icu and r_mecab > r_icu
    assert segment_words("買いました", "fugashi") == ("買い", "まし", "た")
    assert segment_words("Alice在北京", "fugashi")[0] == "Alice"


@pytest.mark.parametrize("name, module, extra", [("kiwi", "kiwipiepy", "korean"), ("fugashi", "fugashi", "japanese")])
def test_a_missing_segmenter_is_a_one_line_error_naming_the_extra(monkeypatch, name, module, extra):
    monkeypatch.setitem(sys.modules, module, None)  # import fails
    segment._kiwi.cache_clear()
    segment._mecab.cache_clear()
    try:
        with pytest.raises(UsageError) as err:
            segment.check_segmenter(name, ("en", "ko"))
        msg = str(err.value)
        assert "\n" not in msg and f"pip install 'xlaug[{extra}]'" in msg and f"--segmenter {name}" in msg
    finally:
        segment._kiwi.cache_clear()
        segment._mecab.cache_clear()


def _labels(tokens, spec):
    labels = ["O"] * len(tokens)
    for ent in spec.split("|"):
        kind, words = ent.split(":", 1)[0], ent.split(":", 1)[1].split("=")[0].split()
        k = next(i for i in range(len(tokens)) if tokens[i:i + len(words)] == words)
        labels[k:k + len(words)] = ["B-" + kind] + ["I-" + kind] * (len(words) - 1)
    return tuple(labels)


def _projection_f1(encoder, segmenter):
    """English entities projected onto Korean: right when the type and the
    surface (spaces aside) equal the hand translation's entity, particle excluded."""
    from xlaug.pipelines.api import parse
    from xlaug.pipelines.project import build_stages
    from xlaug.transforms import bio
    from xlaug.transforms.record import Record

    records = [Record(id=str(k), src_lang="en", tgt_lang="ko", src_tokens=tuple(en.split()),
                      src_labels=_labels(en.split(), ents), tgt_text=ko) for k, (en, ko, ents) in enumerate(EN_KO)]
    for step in build_stages(parse("project", input="-", output="-", align_model=encoder, segmenter=segmenter,
                                   on_missing="drop")):
        records = [r for r in step.run(records) if isinstance(r, Record)]
    gold = {str(k): {(e.split(":")[0], e.split("=")[1].replace(" ", "")) for e in ents.split("|")}
            for k, (_, _, ents) in enumerate(EN_KO)}
    tp = n_pred = 0
    for r in records:
        pred = {(kind, "".join(r.tgt_tokens[a:b])) for a, b, kind in bio.spans(r.tgt_labels)}
        tp, n_pred = tp + len(pred & gold[r.id]), n_pred + len(pred)
    n_gold = sum(len(g) for g in gold.values())
    p, rec = tp / max(1, n_pred), tp / n_gold
    return 2 * p * rec / (p + rec) if p + rec else 0.0


@pytest.mark.slow
def test_fugashi_aligns_raw_japanese_as_well_as_the_hand_segmentation(real_encoder):
    pytest.importorskip("fugashi")
    from tests.test_segment_align import GOLD_JA, _f1
    from xlaug.transforms.align import WordAligner
    aligner = WordAligner(real_encoder, layer=7, method="itermax", device="cpu")
    reference = _f1(aligner, GOLD_JA, lambda ref: ref.split("|"))
    mecab = _f1(aligner, GOLD_JA, lambda ref: list(segment_words(ref.replace("|", ""), "fugashi")))
    # Measured: reference 0.913, fugashi 0.913, ICU 0.891.
    assert mecab >= reference - 0.02


@pytest.mark.slow
def test_kiwi_morphemes_make_projected_korean_entities_whole_words(real_encoder):
    pytest.importorskip("kiwipiepy")
    spaces, kiwi = _projection_f1(real_encoder, "auto"), _projection_f1(real_encoder, "kiwi")
    # Measured: spaces 0.087 (the particle rides along: 베를린에서), kiwi 0.913.
    assert kiwi >= 0.8 and spaces <= 0.3
