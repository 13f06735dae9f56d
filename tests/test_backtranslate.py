"""Back-translation: Translator core, the Beam stage, and the CLI options.

Tiny random models: outputs are meaningless, so these tests check mapping,
counts, ranks, determinism, codes and rejection paths, never content.
"""
import collections
import random
import uuid

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing import test_pipeline

from xlaug.transforms.apply import ApplyStep
from xlaug.transforms.backtranslate import BackTranslate
from xlaug.transforms.record import Record, Rejected
from xlaug.transforms.segment import split_sentences
from xlaug.transforms.seq2seq import Decoding, ModelLoadError, Translator, check_model_available

GREEDY = Decoding(mode="greedy", max_new_tokens=6)
TEXTS = ["the cat sat on the mat .", "a house in Berlin is big .", "hi", "Angela Merkel visited Paris yesterday .",
         "we need more data for small languages . the Commission and the Council agree .",
         "le chat est sur le tapis .", "numbers 1 2 3", "the European Parliament voted today ."]


@pytest.fixture(scope="module")
def translator(tiny_seq2seq):
    return Translator(tiny_seq2seq, threads=1).load()


_SINK = collections.defaultdict(list)


def _collect(item, tag):
    _SINK[tag].append(item)


def run_stage(records, stage, *options):
    """Run ``stage`` on an in-process local runner; returns (kept, rejected) lists.

    DoFns are pickled, so results are gathered in this module's global sink
    (LOOPBACK workers run in this process too)."""
    tag = uuid.uuid4().hex
    runner = "PortableRunner" if options else "BundleBasedDirectRunner"
    with test_pipeline.TestPipeline(runner=runner, options=PipelineOptions(list(options))) as p:
        out = p | beam.Create(records) | ApplyStep(stage)
        out.kept | "k" >> beam.Map(_collect, tag + "k")
        out.rejected | "r" >> beam.Map(_collect, tag + "r")
    return _SINK.pop(tag + "k", []), _SINK.pop(tag + "r", [])


@pytest.fixture(scope="module")
def sharp_seq2seq(tiny_seq2seq, tmp_path_factory):
    """The tiny model with large random weights: its greedy outputs and scores
    differ from input to input, so a result mapped to the wrong record shows."""
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
    torch.manual_seed(0)
    model = AutoModelForSeq2SeqLM.from_pretrained(tiny_seq2seq)
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() > 1:
                param.normal_(0, 1.0)
    path = str(tmp_path_factory.mktemp("sharp_seq2seq"))
    model.save_pretrained(path)
    AutoTokenizer.from_pretrained(tiny_seq2seq).save_pretrained(path)
    return path


def greedy_margins(path, texts):
    """For each text decoded greedily alone: the smallest gap, over its steps,
    between the best and the second-best next-token score.  Where it is far
    above rounding (padding moves scores by ~1e-6), another batching must pick
    the same tokens, so texts can be compared exactly across batchings."""
    import torch
    t = Translator(path, threads=1).load()
    kw = dict(t.generate_kwargs(GREEDY), output_scores=True)
    out = []
    for text in texts:
        ids = torch.tensor([t.encode(text)])
        with torch.inference_mode():
            gen = t.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **kw)
        out.append(min(float(top[0, 0] - top[0, 1]) for top in (s.topk(2).values for s in gen.scores)))
    return out


# -- Translator core ---------------------------------------------------------

def test_batches_respect_budget_and_sort(tiny_seq2seq):
    t = Translator(tiny_seq2seq, batch_tokens=20, max_batch_size=3)
    lengths = [9, 2, 5, 3, 8, 2, 4]
    batches = t.batches(lengths)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        assert len(b) <= 3 and max(lengths[i] for i in b) * len(b) <= 20 or len(b) == 1
    flat = [lengths[i] for b in batches for i in b]
    assert flat == sorted(flat)
    unsorted = Translator(tiny_seq2seq, batch_tokens=10**6, max_batch_size=3, sort=False).batches(lengths)
    assert unsorted == [[0, 1, 2], [3, 4, 5], [6]]


def test_batched_translation_equals_one_by_one(sharp_seq2seq):
    assert min(greedy_margins(sharp_seq2seq, TEXTS)) > 0.01  # no near-tie: rounding cannot flip a token
    translator = Translator(sharp_seq2seq, threads=1, max_batch_size=3)
    batched = translator.translate(TEXTS, decoding=GREEDY)
    for text, hyps in zip(TEXTS, batched):
        (alone,) = translator.translate([text], decoding=GREEDY)
        assert len(hyps) == 1 and hyps[0][0] == alone[0][0]
        assert hyps[0][1] == pytest.approx(alone[0][1], abs=1e-4)  # padding changes rounding only
    assert len({h[0][1] for h in batched}) == len(TEXTS)  # scores tell the inputs apart


def test_beam_n_best_sorted(translator):
    out = translator.translate(TEXTS[:3], decoding=Decoding(mode="beam", num_beams=4, n=3, max_new_tokens=6))
    for hyps in out:
        assert len(hyps) == 3
        scores = [s for _, s in hyps]
        assert scores == sorted(scores, reverse=True)
        assert all(s <= 0 for s in scores)


def _texts(hyps):
    return [[t for t, _ in h] for h in hyps]


def test_sampling_seeded_and_independent_of_batch(tiny_seq2seq):
    dec = Decoding(mode="sample", n=3, top_k=50, top_p=0.95, temperature=1.3, seed=7, max_new_tokens=8)
    translator = Translator(tiny_seq2seq, threads=1, sort=False).load()
    keys = [f"k{i}" for i in range(len(TEXTS))]
    all_at_once = translator.translate(TEXTS, keys, dec)
    again = translator.translate(TEXTS, keys, dec)
    assert _texts(all_at_once) == _texts(again)
    # Same key -> same draws whatever else shares the batch: other texts and
    # keys around it.  The batch keeps its shape (the partners' words are
    # reversed: same token counts), so the draw sees the same probabilities;
    # a draw on probabilities that padding moved could land on either side of
    # a boundary.  (Row position: test_picker_draws_per_row.)
    partners = [t if k == 3 else " ".join(reversed(t.split())) for k, t in enumerate(TEXTS)]
    assert translator.count_tokens(partners) == translator.count_tokens(TEXTS)
    mixed = translator.translate(partners, [k if i == 3 else "other" + k for i, k in enumerate(keys)], dec)
    assert _texts(mixed)[3] == _texts(all_at_once)[3]
    assert sum(a != b for a, b in zip(_texts(mixed), _texts(all_at_once))) == len(TEXTS) - 1
    other_seed = translator.translate(TEXTS, keys, Decoding(mode="sample", n=3, seed=8, max_new_tokens=8,
                                                            top_k=50, top_p=0.95, temperature=1.3))
    assert _texts(other_seed) != _texts(all_at_once)
    # n draws of one input are not all the same.
    assert any(len({t for t, _ in hyps}) > 1 for hyps in all_at_once)


def test_picker_draws_per_row():
    """Each row draws from its own generator, seeded by its key: moving a row
    elsewhere in the batch (same scores) moves its draws with it."""
    import torch
    from xlaug.transforms.seq2seq import _make_picker, row_seed
    dec = Decoding(mode="sample", top_k=20, top_p=0.9, temperature=1.3, seed=3)
    scores = torch.randn(5, 40, generator=torch.Generator().manual_seed(0))
    seeds = [row_seed(3, f"k{r}", 0) for r in range(5)]
    order = [3, 0, 4, 1, 2]
    a, b = _make_picker(dec, seeds, "cpu"), _make_picker(dec, [seeds[r] for r in order], "cpu")
    steps = [(a(None, scores).argmax(-1), b(None, scores[order]).argmax(-1)) for _ in range(6)]
    for x, y in steps:
        assert y.tolist() == x[order].tolist()
    assert len({tuple(x.tolist()) for x, _ in steps}) > 1  # the draws are random, not an argmax


def test_decoding_validation():
    with pytest.raises(ValueError, match="greedy"):
        Decoding(mode="greedy", n=2)
    with pytest.raises(ValueError):
        Decoding(mode="nucleus")
    with pytest.raises(ValueError):
        Decoding(mode="sample", top_p=0)


@pytest.mark.parametrize("fixture,src,tgt,src_code,tgt_code", [
    ("tiny_nllb", "en", "de", "eng_Latn", "deu_Latn"),
    ("tiny_nllb", "eng_Latn", "fra_Latn", "eng_Latn", "fra_Latn"),  # the model's own codes
    ("tiny_m2m", "en", "de", "__en__", "__de__"),
    ("tiny_m2m", "__fr__", "__en__", "__fr__", "__en__"),
])
def test_language_codes(request, fixture, src, tgt, src_code, tgt_code):
    path = request.getfixturevalue(fixture)
    t = Translator(path, src_lang=src, tgt_lang=tgt).load()
    tok = t.tokenizer
    assert t.family == ("nllb" if fixture == "tiny_nllb" else "m2m")
    assert (t.src_code, t.tgt_code) == (src_code, tgt_code)
    kw = t.generate_kwargs(GREEDY)
    assert kw["forced_bos_token_id"] == tok.convert_tokens_to_ids(tgt_code)
    ids = t.encode("the cat sat")
    assert ids[0] == tok.convert_tokens_to_ids(src_code)
    assert ids.count(tok.convert_tokens_to_ids(src_code)) == 1
    # The first generated token really is the target code.
    import torch
    with torch.inference_mode():
        out = t.model.generate(input_ids=torch.tensor([ids]), **dict(kw, max_new_tokens=3))
    assert out.sequences[0, 1].item() == tok.convert_tokens_to_ids(tgt_code)
    # ... and decoding strips it from the text.
    assert tgt_code not in t.translate(["the cat"], decoding=GREEDY)[0][0][0]


def test_unknown_language_code(tiny_nllb):
    with pytest.raises(ModelLoadError, match="no language code.*'xx'"):
        Translator(tiny_nllb, src_lang="en", tgt_lang="xx").load_tokenizer()
    with pytest.raises(ModelLoadError, match="needs a source language"):
        Translator(tiny_nllb, tgt_lang="de").load_tokenizer()


def test_marian_ignores_languages(translator):
    assert translator.family == "marian" and translator.src_code is None
    assert "forced_bos_token_id" not in translator.generate_kwargs(GREEDY)


@pytest.fixture(scope="module")
def tiny_t5(tiny_seq2seq, tmp_path_factory):
    from transformers import AutoTokenizer, T5Config, T5ForConditionalGeneration
    tok = AutoTokenizer.from_pretrained(tiny_seq2seq)
    cfg = T5Config(vocab_size=len(tok), d_model=32, d_ff=64, d_kv=16, num_layers=1, num_heads=2,
                   pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                   decoder_start_token_id=tok.pad_token_id)
    path = str(tmp_path_factory.mktemp("tiny_t5"))
    T5ForConditionalGeneration(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def test_t5_prefix(tiny_t5):
    t = Translator(tiny_t5, src_lang="en", tgt_lang="de").load()
    assert t.family == "t5" and t.prefix == "translate English to German: "
    assert t.encode("the cat") == t.tokenizer("translate English to German: the cat")["input_ids"]
    assert len(t.translate(["the cat"], decoding=GREEDY)[0]) == 1
    own = Translator(tiny_t5, prefix="translate to Klingon: ").load_tokenizer()
    assert own.encode("x") == own.tokenizer("translate to Klingon: x")["input_ids"]
    with pytest.raises(ModelLoadError, match="--prefix"):
        Translator(tiny_t5, src_lang="en", tgt_lang="zz").load_tokenizer()


def test_missing_model_is_one_clear_error(tmp_path, monkeypatch):
    missing = str(tmp_path / "no-such-model")
    with pytest.raises(ModelLoadError, match="no-such-model.*not found"):
        check_model_available(missing)
    with pytest.raises(ModelLoadError, match="no-such-model"):
        Translator(missing).load()
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="no config.json"):
        Translator(str(tmp_path / "empty")).load_tokenizer()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ModelLoadError, match="'someorg/opus-mt-xx-yy'.*HF_HUB_OFFLINE"):
        check_model_available("someorg/opus-mt-xx-yy")


def test_split_sentences():
    assert split_sentences("One. Two!  Three? four") == ["One.", "Two!", "Three?", "four"]
    assert split_sentences("  ") == []


def test_a_failing_input_rejects_its_record_only(tiny_seq2seq):
    stage = BackTranslate(tiny_seq2seq, "en", "de", decoding=GREEDY)
    stage.setup()
    boom = stage._sides["forward"].translator.encode("boom")

    class Flaky:  # stands in for a model that fails on one input
        def translate(self, direction, encoded, keys, decoding):
            if boom in encoded:
                raise RuntimeError("CUDA error: device-side assert")
            return [[(f"t{len(ids)}", -1.0)] for ids in encoded]

    records = [Record(id="a", src_text="a cat"), Record(id="b", src_text="boom"), Record(id="c", src_text="c")]
    kept, rejected = [], []
    for item in stage.process_batch(records, None, Flaky()):
        (rejected if isinstance(item, Rejected) else kept).append(item)
    assert sorted(r.id for r in kept) == ["a", "c"] and all(r.tgt_text.startswith("t") for r in kept)
    (bad,) = rejected
    assert bad.record.id == "b" and bad.reason == "generation_error"
    assert bad.detail.startswith("RuntimeError: CUDA error")


# -- the Beam stage ------------------------------------------------------------

def test_stage_maps_outputs_to_inputs_under_shuffling(sharp_seq2seq):
    assert min(greedy_margins(sharp_seq2seq, TEXTS)) > 0.01  # texts can be compared across batchings
    translator = Translator(sharp_seq2seq, threads=1).load()
    records = [Record(id=f"r{i}", src_lang="en", src_text=t) for i, t in enumerate(TEXTS * 3)]
    random.Random(3).shuffle(records)
    expected = {r.id: translator.translate([r.src_text], decoding=GREEDY)[0][0] for r in records}
    for bucketing in (True, False):
        stage = BackTranslate(sharp_seq2seq, "en", "de", decoding=GREEDY, max_batch_size=3,
                              batch_tokens=40, bucketing=bucketing)
        kept, rejected = run_stage(records, stage)
        assert rejected == []
        assert sorted(r.id for r in kept) == sorted(expected)
        for r in kept:
            assert r.tgt_text == expected[r.id][0]
            assert r.scores["bt_score"] == pytest.approx(expected[r.id][1], abs=1e-4)
        by_id = {r.id: r for r in records}
        for r in kept:
            assert r.src_text == by_id[r.id].src_text and r.tgt_lang == "de"
            assert r.origin[-1]["stage"] == "backtranslate"
            assert r.origin[-1]["params"]["direction"] == "en->de"
            assert r.origin[-1]["model"] == sharp_seq2seq


def test_stage_n_best_rejections_and_counts(tiny_seq2seq):
    long_text = "The cat sat on the mat. A house in Berlin is big. We need more data."
    records = [Record(id="a", src_text=TEXTS[0]), Record(id="b", src_tokens=("a", "house")),
               Record(id="empty", src_text="  "), Record(id="none"),
               Record(id="fr", src_lang="fr", src_text="le chat"),
               Record(id="long", src_text=long_text),
               Record(id="huge", src_text="Berlin " * 30)]
    stage = BackTranslate(tiny_seq2seq, "en", "de", max_input_tokens=16,
                          decoding=Decoding(mode="beam", num_beams=3, n=3, max_new_tokens=5))
    kept, rejected = run_stage(records, stage)
    reasons = {r.record.id: r.reason for r in rejected}
    assert reasons == {"empty": "empty_text", "none": "empty_text", "fr": "wrong_language", "huge": "too_long"}
    assert all(isinstance(r, Rejected) and r.stage == "backtranslate" and r.detail for r in rejected)
    ids = sorted(r.id for r in kept)
    assert ids == sorted(f"{base}-bt{k}" for base in ("a", "b", "long") for k in (1, 2, 3))
    for r in kept:
        assert r.scores["bt_rank"] == int(r.id[-1])
        assert r.origin[-1]["params"]["n"] == 3 and r.origin[-1]["params"]["num_beams"] == 3
    long_out = [r for r in kept if r.id.startswith("long")]
    assert all(r.origin[-1]["params"]["chunks"] >= 2 for r in long_out)
    assert all(r.src_text == long_text for r in long_out)
    b1 = next(r for r in kept if r.id == "b-bt1")
    assert b1.src_tokens == ("a", "house") and b1.src_lang == "en"


def test_long_input_reject_policy_and_read_count(translator, tiny_seq2seq):
    long_text = "The cat sat on the mat. A house in Berlin is big. We need more data."
    records = [Record(id=str(i), src_text=t) for i, t in enumerate(TEXTS)] + \
              [Record(id="long", src_text=long_text), Record(id="blank", src_text="")]
    stage = BackTranslate(tiny_seq2seq, "en", "de", decoding=GREEDY, long_input="reject", max_input_tokens=16)
    kept, rejected = run_stage(records, stage)
    assert len(kept) + len(rejected) == len(records)
    too_long = {r.id for r in records if r.src_text and translator.count_tokens([r.src_text])[0] > 16}
    assert "long" in too_long and len(too_long) < len(records) - 1
    assert {(r.record.id, r.reason) for r in rejected} == \
        {(i, "too_long") for i in too_long} | {("blank", "empty_text")}
    assert {r.id for r in kept} | {r.record.id for r in rejected} == {r.id for r in records}


def test_stage_sampling_deterministic_and_round_trip(tiny_seq2seq):
    records = [Record(id=f"s{i}", src_text=t) for i, t in enumerate(TEXTS[:4])]
    dec = Decoding(mode="sample", n=2, seed=11, top_p=0.9, max_new_tokens=6)

    # One input a batch in every run: the runs differ in input order and
    # runner, never in batch shape (which moves probabilities by rounding).
    def run(recs):
        stage = BackTranslate(tiny_seq2seq, "en", "de", decoding=dec, round_trip_model=tiny_seq2seq,
                              max_batch_size=1)
        kept, rejected = run_stage(recs, stage)
        assert rejected == []
        return {r.id: r for r in kept}

    first = run(records)
    second = run(list(reversed(records)))
    assert set(first) == {f"s{i}-bt{k}" for i in range(4) for k in (1, 2)}
    assert {k: r.tgt_text for k, r in first.items()} == {k: r.tgt_text for k, r in second.items()}
    # The portable runner (what Dataflow/Flink/Spark use) draws the same samples.
    stage = BackTranslate(tiny_seq2seq, "en", "de", decoding=dec, max_batch_size=1)
    portable, _ = run_stage(records, stage, "--job_endpoint=embed", "--environment_type=LOOPBACK")
    assert {r.id: r.tgt_text for r in portable} == {k: r.tgt_text for k, r in first.items()}
    for r in first.values():
        assert 0 <= r.scores["rt_bleu"] <= 100 and 0 <= r.scores["rt_chrf"] <= 100
        assert [o["stage"] for o in r.origin] == ["backtranslate", "round_trip"]
        assert r.origin[0]["params"]["seed"] == 11


# -- CLI options ---------------------------------------------------------------

def _parse(argv):
    from xlaug.pipelines.cli import parse_args
    return parse_args(["run", "backtranslate", "--input", "in.txt", "--output", "out"] + argv)[2]


def test_cli_options_build_the_stage(tiny_seq2seq):
    from xlaug.pipelines.backtranslate import build_stages
    args = _parse(["--translate-model", tiny_seq2seq, "--decoding", "sample", "--n", "2", "--top-p", "0.8",
                   "--seed", "5", "--no-bucketing", "--long-input", "reject", "--src-lang", "en", "--tgt-lang", "de"])
    (stage,) = build_stages(args)
    assert stage.name == "backtranslate" and not stage.bucketing and stage.long_input == "reject"
    assert stage.decoding == Decoding(mode="sample", n=2, top_p=0.8, seed=5)
    assert set(stage.score_ranges) == {"bt_score", "bt_rank"}


def test_cli_errors_are_one_line(tmp_path, tiny_seq2seq):
    from xlaug.pipelines.backtranslate import build_stages
    from xlaug.pipelines.cli import CliError
    bad = _parse(["--translate-model", str(tmp_path / "missing")])
    with pytest.raises(CliError, match="--translate-model: model '.*missing' not found"):
        build_stages(bad)
    greedy_n = _parse(["--translate-model", tiny_seq2seq, "--decoding", "greedy", "--n", "3"])
    with pytest.raises(CliError, match="n > 1 needs beam or sample"):
        build_stages(greedy_n)


def test_replaced_target_side_is_kept_in_provenance(tiny_seq2seq):
    from xlaug.transforms.backtranslate import BackTranslate
    from xlaug.transforms.seq2seq import Decoding
    import apache_beam as beam
    from apache_beam.testing.test_pipeline import TestPipeline
    from apache_beam.testing.util import assert_that, equal_to

    rec = Record(id="r", src_lang="en", tgt_lang="de", src_text="the cat sat .", tgt_text="old text",
                 tgt_tokens=("old", "text"))
    with TestPipeline(runner="BundleBasedDirectRunner") as p:
        out = p | beam.Create([rec]) | ApplyStep(BackTranslate(tiny_seq2seq, "en", "de",
                                                               decoding=Decoding(mode="greedy", max_new_tokens=4)))
        assert_that(out.kept | beam.Map(lambda r: (r.tgt_tokens, r.origin[-1]["params"]["replaced_tgt"])),
                    equal_to([(None, "old text")]))
