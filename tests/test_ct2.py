"""The CTranslate2 engine against the transformers one, on tiny models of each
family (Marian, NLLB-style, M2M-style, T5), float32 on CPU.

The models get large random weights so that greedy outputs differ from input
to input and their margins are far above rounding: the same text from both
engines then means the same decoding, not a coincidence.
"""
import os
import sys
import uuid

import pytest

from xlaug.transforms.backtranslate import BackTranslate
from xlaug.transforms.record import Record
from xlaug.transforms.seq2seq import Decoding

pytest.importorskip("ctranslate2")

TEXTS = ["the cat sat on the mat .", "a house in Berlin is big .", "hi", "Angela Merkel visited Paris yesterday .",
         "numbers 1 2 3", "le chat est sur le tapis .", "we need more data for small languages .",
         "the European Parliament voted today ."]
GREEDY = Decoding(mode="greedy", max_new_tokens=12)
FAMILIES = ("marian", "nllb", "m2m", "t5")


@pytest.fixture(scope="module", autouse=True)
def ct2_cache(tmp_path_factory):
    """Conversions go to a folder of this module, not ~/.cache/xlaug."""
    old = os.environ.get("XLAUG_CACHE")
    os.environ["XLAUG_CACHE"] = str(tmp_path_factory.mktemp("xlaug_cache"))
    yield os.environ["XLAUG_CACHE"]
    if old is None:
        os.environ.pop("XLAUG_CACHE", None)
    else:
        os.environ["XLAUG_CACHE"] = old


def _sharpen(path, out):
    """Large random weights; Marian's <pad> embedding stays zero (the decoder
    starts from it, and CTranslate2 starts from a zero vector)."""
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
    torch.manual_seed(0)
    model = AutoModelForSeq2SeqLM.from_pretrained(path)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.dim() > 1 and "embed_positions" not in name:
                param.normal_(0, 1.0)
        if model.config.model_type == "marian":
            model.get_input_embeddings().weight[model.config.pad_token_id].zero_()
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(path).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from transformers import AutoTokenizer, T5Config, T5ForConditionalGeneration

    from tests.tiny_models import M2M_CODES, NLLB_CODES, build_seq2seq
    base = tmp_path_factory.mktemp("ct2_models")
    marian = build_seq2seq(str(base / "marian0"))
    tok = AutoTokenizer.from_pretrained(marian)
    cfg = T5Config(vocab_size=len(tok), d_model=32, d_ff=64, d_kv=16, num_layers=2, num_heads=2,
                   pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                   decoder_start_token_id=tok.pad_token_id)
    T5ForConditionalGeneration(cfg).save_pretrained(str(base / "t50"))
    tok.save_pretrained(str(base / "t50"))
    raw = {"marian": marian, "t5": str(base / "t50"),
           "nllb": build_seq2seq(str(base / "nllb0"), lang_codes=NLLB_CODES),
           "m2m": build_seq2seq(str(base / "m2m0"), lang_codes=M2M_CODES)}
    return {family: _sharpen(path, str(base / family)) for family, path in raw.items()}


def _records():
    records = [Record(id=f"r{i}", src_lang="en", src_text=t) for i, t in enumerate(TEXTS)]
    records += [Record(id="empty", src_lang="en", src_text="  "),
                Record(id="french", src_lang="fr", src_text="le chat"),
                Record(id="long", src_lang="en", src_text=" ".join(["the cat sat on the mat ."] * 6))]
    return records


def _stage(path, engine, decoding, **kw):
    return BackTranslate(path, "en", "de", decoding=decoding, engine=engine, long_input="reject",
                         max_input_tokens=36, compute_type="float32" if engine == "ct2" else None, **kw)


def _split(stage, records):
    kept, rejected = stage.split(records)
    return ({r.id: r for r in kept}, sorted((x.record.id, x.reason) for x in rejected))


@pytest.mark.parametrize("family", FAMILIES)
def test_same_greedy_output_and_rejects_on_both_engines(models, family):
    hf, hf_rejected = _split(_stage(models[family], "hf", GREEDY), _records())
    ct2, ct2_rejected = _split(_stage(models[family], "ct2", GREEDY), _records())
    # The same rejections, including any empty translation (a hypothesis that is EOS at once).
    assert hf_rejected == ct2_rejected
    assert {("empty", "empty_text"), ("french", "wrong_language"), ("long", "too_long")} <= set(hf_rejected)
    assert sorted(hf) == sorted(ct2) and len(hf) >= len(TEXTS) - 1
    assert len({r.tgt_text for r in hf.values()}) > 2  # outputs differ by input: a real comparison
    for rid, record in hf.items():
        assert ct2[rid].tgt_text == record.tgt_text
        assert ct2[rid].scores["bt_score"] == pytest.approx(record.scores["bt_score"], abs=2e-3)
        assert ct2[rid].scores["bt_rank"] == 1
    if family in ("nllb", "m2m"):  # the target code is forced, then stripped from the text
        code = "deu_Latn" if family == "nllb" else "__de__"
        assert all(code not in r.tgt_text for r in ct2.values())


@pytest.mark.parametrize("family", ("marian", "nllb"))
def test_n_best_shape_on_both_engines(models, family):
    for decoding in (Decoding(mode="beam", num_beams=4, n=3, max_new_tokens=8),
                     Decoding(mode="sample", n=2, top_k=20, top_p=0.9, temperature=0.8, seed=1, max_new_tokens=8)):
        shapes = {}
        for engine in ("hf", "ct2"):
            kept, rejected = _split(_stage(models[family], engine, decoding), _records())
            empty = [rid for rid, reason in rejected if reason == "empty_translation"]
            assert [reason for _, reason in rejected if reason != "empty_translation"] == [
                "empty_text", "wrong_language", "too_long"]
            hyps = {}  # parent -> its hypotheses' ids, kept or rejected as empty
            for rid in list(kept) + empty:
                hyps.setdefault(rid.rsplit("-bt", 1)[0], []).append(rid)
            for parent, ids in hyps.items():
                assert sorted(ids) == [f"{parent}-bt{k}" for k in range(1, decoding.n + 1)]
                children = sorted((kept[i] for i in ids if i in kept), key=lambda r: r.scores["bt_rank"])
                assert all(-50 < r.scores["bt_score"] <= 0 for r in children)
                if decoding.mode == "beam":
                    scores = [r.scores["bt_score"] for r in children]
                    assert scores == sorted(scores, reverse=True)
            shapes[engine] = sorted(hyps)
        assert shapes["hf"] == shapes["ct2"]


def test_beam_scores_match_hf(models):
    decoding = Decoding(mode="beam", num_beams=4, n=2, max_new_tokens=10)
    hf, _ = _split(_stage(models["nllb"], "hf", decoding), _records())
    ct2, _ = _split(_stage(models["nllb"], "ct2", decoding), _records())
    for rid, record in hf.items():
        assert ct2[rid].tgt_text == record.tgt_text
        assert ct2[rid].scores["bt_score"] == pytest.approx(record.scores["bt_score"], abs=2e-3)


@pytest.mark.parametrize("family", ("marian", "m2m"))
def test_sampling_determined_by_seed_not_batch(models, family):
    def draws(seed, batch):
        decoding = Decoding(mode="sample", n=2, seed=seed, max_new_tokens=10)
        stage = _stage(models[family], "ct2", decoding, max_batch_size=batch, batch_tokens=10_000)
        kept, _ = _split(stage, _records()[:len(TEXTS)])
        return {rid: (r.tgt_text, r.scores["bt_score"]) for rid, r in kept.items()}

    together, alone, again = draws(7, 64), draws(7, 1), draws(7, 64)
    assert together == again
    assert {k: v[0] for k, v in together.items()} == {k: v[0] for k, v in alone.items()}
    for k in together:
        assert together[k][1] == pytest.approx(alone[k][1], abs=1e-4)
    other = draws(8, 64)
    assert sum(other[k][0] != together[k][0] for k in together) >= len(together) // 2
    # the two draws of one input differ
    assert sum(together[f"r{i}-bt1"][0] != together[f"r{i}-bt2"][0] for i in range(len(TEXTS))) >= 4


def test_round_trip_and_beam_pipeline_on_ct2(models):
    import apache_beam as beam
    from apache_beam.testing import test_pipeline

    from xlaug.transforms.apply import ApplyStep
    stage = BackTranslate(models["marian"], "en", "de", decoding=GREEDY, engine="ct2", compute_type="float32",
                          round_trip_model=models["marian"], max_batch_size=3, batch_tokens=40)
    plain = {r.id: r for r in stage.split(_records()[:len(TEXTS)])[0]}
    assert all(0 <= r.scores["rt_chrf"] <= 100 for r in plain.values())
    tag = uuid.uuid4().hex
    with test_pipeline.TestPipeline(runner="BundleBasedDirectRunner") as p:
        out = p | beam.Create(_records()[:len(TEXTS)]) | ApplyStep(stage)
        out.kept | beam.Map(_collect, tag)
    beamed = {r.id: r for r in _SINK.pop(tag, [])}
    assert sorted(beamed) == sorted(plain)
    for rid, r in beamed.items():
        assert r.tgt_text == plain[rid].tgt_text
        assert r.scores["rt_bleu"] == pytest.approx(plain[rid].scores["rt_bleu"], abs=1e-6)


_SINK: dict = {}


def _collect(item, tag):  # DoFns are pickled: results come back through this module
    _SINK.setdefault(tag, []).append(item)


def test_conversion_cached_once_per_model_and_compute_type(models, ct2_cache):
    from xlaug.transforms.ct2 import Ct2Translator, cache_root, converted, files_key
    first = converted(models["m2m"], "float32")
    assert converted(models["m2m"], "float32") == first
    assert os.path.basename(first) == f"{files_key(models['m2m'])}-float32"
    int8 = converted(models["m2m"], "int8")
    assert int8 != first and os.path.isfile(os.path.join(int8, "model.bin"))
    assert not [n for n in os.listdir(cache_root()) if n.startswith(".converting")]  # temp folders gone
    # A changed file gives a new key (its digest is not taken from the index).
    import shutil
    copy = shutil.copytree(models["m2m"], os.path.join(ct2_cache, "m2m-copy"))
    assert files_key(copy) == files_key(models["m2m"])
    with open(os.path.join(copy, "config.json"), "a") as f:
        f.write(" ")
    assert files_key(copy) != files_key(models["m2m"])
    shutil.rmtree(copy)
    # A given CTranslate2 folder is used as it is: nothing new is converted.
    before = sorted(os.listdir(cache_root()))
    t = Ct2Translator(models["m2m"], src_lang="en", tgt_lang="de", compute_type="int8", ct2_model=first).load()
    assert sorted(os.listdir(cache_root())) == before
    assert t.compute_type == "int8" and len(t.translate(["the cat"], decoding=GREEDY)[0]) == 1


def test_a_failing_input_rejects_its_record_only_on_ct2(models, monkeypatch):
    from xlaug.transforms.ct2 import Ct2Translator
    stage = _stage(models["marian"], "ct2", GREEDY)
    stage.setup()
    boom = stage._sides["forward"].translator.encode("boom")
    real = Ct2Translator._generate

    def flaky(self, encoded, keys, decoding):
        if boom in encoded:
            raise RuntimeError("out of memory")
        return real(self, encoded, keys, decoding)

    monkeypatch.setattr(Ct2Translator, "_generate", flaky)
    records = [Record(id="a", src_text="a cat"), Record(id="b", src_text="boom"), Record(id="c", src_text="c")]
    kept, rejected = stage.split(records)
    assert sorted(r.id for r in kept) == ["a", "c"]
    assert [(x.record.id, x.reason) for x in rejected] == [("b", "generation_error")]


@pytest.mark.parametrize("threads", (1, 2))
def test_stage_threads_are_ctranslate2s_threads(models, monkeypatch, threads):
    # Left unset, CTranslate2 takes every core: --threads must bound it as it bounds torch.
    import ctranslate2
    seen = []
    real = ctranslate2.Translator

    def recording(*args, **kw):
        seen.append((kw["inter_threads"], kw["intra_threads"]))
        return real(*args, **kw)

    monkeypatch.setattr(ctranslate2, "Translator", recording)
    _stage(models["marian"], "ct2", GREEDY, threads=threads).load_model()
    assert seen == [(1, threads)]


def test_missing_ctranslate2_is_one_line_naming_the_extra(models, monkeypatch):
    from xlaug.pipelines.backtranslate import build_stages
    from xlaug.pipelines.cli import CliError, parse_args
    from xlaug.transforms.models import ModelLoadError
    args = parse_args(["run", "backtranslate", "--input", "in.txt", "--output", "out", "--translate-model",
                       models["marian"], "--engine", "ct2", "--compute-type", "int8"])[2]
    (stage,) = build_stages(args)
    assert stage.engine == "ct2" and stage.forward_kwargs["compute_type"] == "int8"
    monkeypatch.setitem(sys.modules, "ctranslate2", None)
    with pytest.raises(CliError, match=r"^--engine ct2: .*pip install 'xlaug\[ct2\]'$"):
        build_stages(args)
    with pytest.raises(ModelLoadError, match=r"xlaug\[ct2\]"):
        _stage(models["marian"], "ct2", GREEDY).load_model()
    hf_with_ct2_option = parse_args(["run", "backtranslate", "--input", "in.txt", "--output", "out",
                                     "--translate-model", models["marian"], "--compute-type", "int8"])[2]
    with pytest.raises(CliError, match="need --engine ct2"):
        build_stages(hf_with_ct2_option)


@pytest.mark.parametrize("engine", ("hf", "ct2"))
def test_each_input_is_tokenized_once(models, monkeypatch, engine):
    from xlaug.transforms.seq2seq import Translator
    calls = []
    real = Translator.encode

    def counting(self, text):
        calls.append(text)
        return real(self, text)

    stage = _stage(models["marian"], engine, GREEDY)
    stage.setup()
    monkeypatch.setattr(Translator, "encode", counting)
    kept, rejected = stage.split(_records()[:len(TEXTS)])
    assert len(kept) == len(TEXTS) and not rejected
    assert sorted(calls) == sorted(TEXTS)


def test_bad_engine_options():
    with pytest.raises(ValueError, match="engine must be one of hf, ct2"):
        BackTranslate("m", "en", "de", engine="onnx")
    with pytest.raises(ValueError, match="compute_type must be one of"):
        BackTranslate("m", "en", "de", engine="ct2", compute_type="int4")


@pytest.mark.parametrize("family", FAMILIES)
def test_encode_gives_the_tokenizers_ids(models, family):
    """``encode`` calls the Rust tokenizer directly: the ids of ``tokenizer(...)``."""
    from xlaug.transforms.seq2seq import Translator
    t = Translator(models[family], src_lang="en", tgt_lang="de").load_tokenizer()
    code = [t.tokenizer.convert_tokens_to_ids(t.src_code)] if t.src_code else []
    for text in TEXTS + ["Grüße, naïve café — 北京 ", "  spaces   inside  ", "ünïcödé\u00a0nbsp"]:
        ids = t.tokenizer(t.prefix + text, add_special_tokens=True)["input_ids"]
        assert t.encode(text) == (ids if ids[:1] == code else code + ids)


def test_chain_from_yaml_on_ct2_equals_hf(models, tmp_path):
    """``engine: ct2`` in a chain's YAML runs end to end (CLI, Beam, output) with the hf output."""
    import json

    from xlaug.pipelines.cli import main
    mono = tmp_path / "mono.en"
    mono.write_text("\n".join(TEXTS + [""]) + "\n", encoding="utf-8")
    rows = {}
    for engine in ("hf", "ct2"):
        extra = ", engine: ct2, compute-type: float32" if engine == "ct2" else ""
        cfg = tmp_path / f"{engine}.yaml"
        out = tmp_path / f"out-{engine}"
        cfg.write_text(f"""
input: {mono}
input-format: text
src-lang: en
tgt-lang: de
output: {out}
output-format: jsonl
export: records
steps:
  - backtranslate: {{translate-model: {models['marian']}, decoding: greedy, max-new-tokens: 12{extra}}}
""", encoding="utf-8")
        assert main(["run", "chain", "--config", str(cfg)]) == 0
        report = json.load(open(out / "report.json"))
        assert report["rejected_by_reason"] == {"empty_text": 1}
        rows[engine] = sorted(json.loads(line)["tgt_text"] for f in os.listdir(out / "data")
                              for line in open(out / "data" / f))
    assert len(rows["hf"]) == len(TEXTS) and rows["ct2"] == rows["hf"]
