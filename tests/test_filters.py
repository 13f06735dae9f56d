import pickle

import pytest

from xlaug.transforms.filter_step import FilterStep
from xlaug.transforms.filters import (AlignmentCoverageFilter, FilterConfigError,
                                LangIdFilter, LengthFilter, LengthRatioFilter, RoundTripFilter,
                                build_filters)
from xlaug.transforms.langcodes import to_iso1
from xlaug.transforms.record import Record, Rejected

EN = "The committee adopted the report on agricultural policy yesterday afternoon."
DE = "Der Ausschuss hat den Bericht über die Agrarpolitik gestern Nachmittag angenommen."
NL = "De commissie heeft gisteren het verslag over het landbouwbeleid aangenomen."
FR = "La commission a adopté hier après-midi le rapport sur la politique agricole."


def rec(src=EN, tgt=DE, src_lang="en", tgt_lang="de", id="1", **kw):
    return Record(id=id, src_lang=src_lang, tgt_lang=tgt_lang, src_text=src, tgt_text=tgt, **kw)


@pytest.fixture(scope="module")
def langid_filter():
    f = LangIdFilter()
    f.setup()
    return f


def test_language_codes_map_to_langid_codes():
    assert to_iso1("deu_Latn") == "de"
    assert to_iso1("ger") == "de"
    assert to_iso1("__fr__") == "fr"
    assert to_iso1("pt-BR") == "pt"
    assert to_iso1("zho_Hans") == "zh"
    assert to_iso1("EN") == "en"
    assert to_iso1(None) is None


def test_langid_language_table_matches_model(langid_filter):
    from xlaug.transforms.langcodes import LANGID_LANGUAGES
    assert set(langid_filter._model.classes) == LANGID_LANGUAGES


def test_langid_matches_langid_py_probabilities(langid_filter):
    ident = langid_filter._model.ident
    for text, lang in ((EN, "en"), (DE, "de"), (FR, "de"), ("ok", "en")):
        ranked = dict(ident.rank(text))
        p, other = langid_filter.side_probs(text, lang)
        assert p == pytest.approx(ranked[lang], rel=1e-6, abs=1e-12)
        assert other == pytest.approx(max(v for k, v in ranked.items() if k != lang), rel=1e-6, abs=1e-12)


def test_langid_batch_scores_equal_single_scores(langid_filter):
    records = [rec(id="a"), rec(id="b", src=NL, tgt=FR), rec(id="c", src="ok", tgt_lang="fra_Latn", tgt=FR),
               rec(id="d", tgt=None, tgt_lang=None)]
    batch = langid_filter.score_batch(records)
    for r, scores in zip(records, batch):
        single = langid_filter.side_probs(r.src_text, r.src_lang)
        assert scores["langid_src"] == pytest.approx(single[0], rel=1e-9, abs=1e-15)
    assert batch[2]["langid_tgt"] > 0.9 and "langid_tgt" not in batch[3]


def test_langid_long_and_empty_texts_in_one_batch(langid_filter):
    model = langid_filter._model
    texts = [EN * 80, DE, "", NL * 3, "x"]  # the first is walked alone (> 4096 bytes)
    assert len(texts[0].encode()) > model.LOCKSTEP_MAX_BYTES
    batch = model.log_probs_batch(texts)
    for text, row in zip(texts, batch):
        ref = model.ident.nb_classprobs(model.ident.instance2fv(text))
        assert row == pytest.approx(ref, rel=1e-9, abs=1e-6)


def test_langid_accepts_correct_pair(langid_filter):
    scores = langid_filter.score(rec())
    assert scores["langid_src"] > 0.9 and scores["langid_tgt"] > 0.9
    assert langid_filter.accept(scores) == (True, None)


def test_langid_rejects_english_labelled_german(langid_filter):
    scores = langid_filter.score(rec(tgt=EN, tgt_lang="deu_Latn"))
    assert scores["langid_tgt"] < 0.1
    ok, reason = langid_filter.accept(scores)
    assert not ok and reason == "wrong_language_tgt"
    ok, reason = langid_filter.accept(langid_filter.score(rec(src=FR)))
    assert (ok, reason) == (False, "wrong_language_src")


def test_langid_restriction_keeps_extra_candidates():
    # Dutch labelled German, langid restricted to en/de: with the extra
    # candidates Dutch still wins; without them German is the "best" of two.
    with_extra = LangIdFilter(languages=["en", "de"])
    scores = with_extra.score(rec(tgt=NL))
    assert with_extra.accept(scores) == (False, "wrong_language_tgt")
    bare = LangIdFilter(languages=["en", "de"], extra_languages=[])
    scores = bare.score(rec(tgt=NL))
    assert scores["langid_tgt"] > 0.9 and bare.accept(scores) == (True, None)


def test_langid_low_confidence_and_unscored_sides(langid_filter):
    f = LangIdFilter(min_score=0.99)
    scores = {"langid_src": 0.9, "langid_src_other": 0.05}
    assert f.accept(scores) == (False, "low_langid_confidence")
    # No code on a side, or a code langid does not know: that side is not scored.
    scores = langid_filter.score(rec(tgt_lang=None))
    assert "langid_tgt" not in scores and "langid_src" in scores
    assert "langid_tgt" not in langid_filter.score(rec(tgt_lang="xyz_Latn"))


def test_langid_filter_pickles_without_model(langid_filter):
    clone = pickle.loads(pickle.dumps(langid_filter))
    assert clone._model is None
    assert clone.score(rec())["langid_src"] == pytest.approx(langid_filter.score(rec())["langid_src"])


def test_length_bounds():
    f = LengthFilter(min_tokens=3, max_tokens=5, max_chars=30)
    s = f.score(rec(src="one two three four", tgt="a b"))
    assert s["len_tokens_src"] == 4 and s["len_tokens_tgt"] == 2 and s["len_chars_src"] == 18
    assert f.accept(s) == (False, "too_short")
    assert f.accept(f.score(rec(src="a b c d e f", tgt="a b c"))) == (False, "too_long")
    assert f.accept(f.score(rec(src="abcdefghij " * 3 + "x", tgt="a b c"))) == (False, "too_long")
    assert f.accept(f.score(rec(src="a b c", tgt="a b c d"))) == (True, None)
    # Tokens win over text when the record has them.
    s = f.score(rec(src="ab", src_tokens=("a", "b", "c")))
    assert s["len_tokens_src"] == 3
    assert f.thresholds["len_tokens_src"] == ("<=", 5)
    assert LengthFilter(max_tokens=None).thresholds["len_tokens_src"] == (">=", 1)


def test_length_ratio():
    f = LengthRatioFilter(max_ratio=2.0)
    s = f.score(rec(src="a b c d e f", tgt="x y"))
    assert s["length_ratio"] == pytest.approx(3.0)
    assert f.accept(s) == (False, "length_ratio")
    s = f.score(rec(src="x y", tgt="a b c d"))  # symmetric
    assert s["length_ratio"] == pytest.approx(2.0) and f.accept(s) == (True, None)
    assert f.score(rec(tgt=None, tgt_lang=None)) == {}
    chars = LengthRatioFilter(max_ratio=2.0, unit="chars")
    assert chars.score(rec(src="abcd", tgt="ab"))["length_ratio"] == pytest.approx(2.0)


def test_alignment_coverage():
    f = AlignmentCoverageFilter(min_coverage=0.5)
    r = rec(src="a b c d", tgt="w x y z", alignment=((0, 0), (1, 1)))
    s = f.score(r)
    assert s["align_coverage"] == pytest.approx(0.5)
    assert f.accept(s) == (True, None)
    s = f.score(r.replace(alignment=((0, 0), (0, 1), (0, 2))))  # 1 src + 3 tgt of 8
    assert s["align_coverage"] == pytest.approx(0.5)
    s = f.score(r.replace(alignment=((0, 0),)))
    assert f.accept(s) == (False, "low_alignment_coverage")
    assert f.score(rec()) == {} and f.accept({}) == (True, None)
    assert AlignmentCoverageFilter(required=True).accept({}) == (False, "no_alignment")


def test_roundtrip():
    f = RoundTripFilter(min_chrf=40, min_bleu=10)
    r = rec(scores={"rt_chrf": 35.0, "rt_bleu": 20.0})
    assert f.accept(f.score(r)) == (False, "low_roundtrip_chrf")
    r = rec(scores={"rt_chrf": 55.0, "rt_bleu": 5.0})
    assert f.accept(f.score(r)) == (False, "low_roundtrip_bleu")
    assert f.accept(f.score(rec())) == (True, None)
    assert RoundTripFilter(required=True).accept({}) == (False, "no_roundtrip_score")


def test_build_filters_from_mapping_and_errors():
    fs = build_filters({"length": {"max_tokens": 10}, "langid": None, "roundtrip": False})
    assert [f.name for f in fs] == ["length", "langid"]
    assert fs[0].max_tokens == 10
    assert {f.name for f in build_filters()} == {
        "langid", "length", "length_ratio", "alignment_coverage", "roundtrip"}
    with pytest.raises(FilterConfigError, match="unknown filter 'lenght'"):
        build_filters({"lenght": {}})
    with pytest.raises(FilterConfigError, match="filter 'length': unknown option 'max_tokenz'"):
        build_filters({"length": {"max_tokenz": 3}})
    with pytest.raises(FilterConfigError, match="minimum 9 is above maximum 3"):
        build_filters({"length": {"min_tokens": 9, "max_tokens": 3}})
    with pytest.raises(FilterConfigError, match="unknown to langid"):
        build_filters({"langid": {"languages": ["en", "klingon"]}})


def test_filter_step_routes_with_reasons_and_keeps_scores():
    step = FilterStep(build_filters({"langid": {}, "length": {"max_tokens": 20},
                                     "length_ratio": {"max_ratio": 2.0}}), batch_size=3)
    records = [
        rec(id="good"),
        rec(id="empty", tgt="   "),
        rec(id="wronglang", tgt=EN),
        rec(id="long", src=EN + " " + EN, tgt=DE + " " + DE),
        rec(id="ratio", src=EN, tgt="Der Ausschuss."),
        rec(id="mono", tgt=None, tgt_lang=None),
    ]
    out = {(x.record.id if isinstance(x, Rejected) else x.id): x for x in step.run(records)}
    assert len(out) == len(records)
    assert isinstance(out["good"], Record) and isinstance(out["mono"], Record)
    assert out["good"].scores["langid_tgt"] > 0.9 and "len_tokens_src" in out["good"].scores
    assert "langid_tgt" not in out["mono"].scores
    reasons = {k: v.reason for k, v in out.items() if isinstance(v, Rejected)}
    assert reasons == {"empty": "empty_text", "wronglang": "wrong_language_tgt",
                       "long": "too_long", "ratio": "length_ratio"}
    # Rejected records carry their scores; detail lists every failure.
    assert out["long"].record.scores["len_tokens_src"] == 2 * len(EN.split())
    assert out["long"].record.scores["len_tokens_tgt"] == 2 * len(DE.split()) > 20
    assert out["ratio"].stage == "filter" and "length_ratio" in out["ratio"].detail
    assert out["wronglang"].record.scores["langid_tgt"] < 0.1
    assert set(step.thresholds) >= {"langid_src", "len_tokens_src", "length_ratio"}


def test_filter_step_detail_lists_all_failures():
    step = FilterStep(build_filters({"length": {"max_tokens": 3}, "length_ratio": {"max_ratio": 1.5}}))
    [out] = list(step.run([rec(src="a b c d e f g h", tgt="x y")]))
    assert out.reason == "too_long"
    assert "too_long" in out.detail and "length_ratio" in out.detail


def test_filter_step_on_beam():
    import apache_beam as beam
    from apache_beam.testing.test_pipeline import TestPipeline
    from apache_beam.testing.util import assert_that, equal_to

    from xlaug.transforms.apply import ApplyStep

    records = [rec(id=str(i)) for i in range(5)] + [rec(id="bad", src=DE, src_lang="en")]
    with TestPipeline(runner="BundleBasedDirectRunner") as p:
        out = p | beam.Create(records) | ApplyStep(FilterStep(build_filters({"langid": {}})))
        assert_that(out.kept | "K" >> beam.Map(lambda r: r.id), equal_to([str(i) for i in range(5)]),
                    label="kept")
        assert_that(out.rejected | "R" >> beam.Map(lambda x: (x.record.id, x.reason)),
                    equal_to([("bad", "wrong_language_src")]), label="rejected")
