"""``xlaug run backtranslate``: translate a corpus with a Hugging Face seq2seq model.

Beam, torch and transformers are imported inside functions (``xlaug --help`` stays fast).
"""
from __future__ import annotations

from xlaug.pipelines.options import Option, choice, device, integer, lang_code, number, path, text

HELP = "back-translate text with a Hugging Face seq2seq model (Marian, NLLB, M2M100, T5), on transformers or CTranslate2"
DESCRIPTION = (
    "Translate each record's source text (src_lang -> tgt_lang) into tgt_text with a "
    "seq2seq model named by hub id or local directory, through Beam RunInference with "
    "length-bucketed batches. src stays the human side, tgt is generated: to train MT on "
    "the result, use tgt as the source side. Optional round trip (--round-trip-model) "
    "adds rt_bleu and rt_chrf scores.")

MODEL_GROUP, BATCH_GROUP, DECODING_GROUP = "model", "batching", "decoding"


def translate_options(*, required: bool) -> tuple:
    """The translation stage's options (also under ``run project --translate-model``)."""
    return (
        Option("translate-model", path, required=required, metavar="MODEL", old=("model",), group=MODEL_GROUP,
               help="seq2seq translation model: hub id or local directory"),
        Option("round-trip-model", path, metavar="MODEL", group=MODEL_GROUP,
               help="model for the way back (tgt -> src); adds rt_bleu, rt_chrf"),
        Option("src-code", lang_code, group=MODEL_GROUP,
               help="the model's own source language code (e.g. eng_Latn); default: mapped from --src-lang"),
        Option("tgt-code", lang_code, group=MODEL_GROUP,
               help="the model's own target language code (e.g. deu_Latn)"),
        Option("prefix", text, group=MODEL_GROUP,
               help="task prefix for T5-type models (default: 'translate X to Y: ')"),
        Option("engine", choice("hf", "ct2"), "hf", group=MODEL_GROUP,
               help="decoding engine: hf (transformers generate) or ct2 (CTranslate2, extra xlaug[ct2]; "
                    "see docs/backtranslation.md)"),
        Option("compute-type", choice("int8", "int8_float16", "float16", "bfloat16", "float32"), group=MODEL_GROUP,
               help="ct2 engine: weights and compute type (default int8 on CPU, float16 on GPU)"),
        Option("ct2-model", path, metavar="DIR", group=MODEL_GROUP,
               help="ct2 engine: a converted CTranslate2 folder to use as it is (default: convert "
                    "--translate-model once, cached under ~/.cache/xlaug/ct2)"),
        Option("large-model", flag=True, group=MODEL_GROUP,
               help="load one model per machine shared by worker processes (Beam large_model)"),
        Option("batch-tokens", integer(min=1), 4096, group=BATCH_GROUP,
               help="padded source tokens x hypotheses per generate call"),
        Option("translate-batch-size", integer(min=1), 64, old=("max-batch-size",), group=BATCH_GROUP,
               help="most inputs per generate call"),
        Option("no-bucketing", flag=True, group=BATCH_GROUP,
               help="batch in arrival order without sorting by length (for comparison only)"),
        Option("long-input", choice("split", "reject"), "split", group=BATCH_GROUP,
               help="inputs over the model limit: split on sentence boundaries, or reject too_long"),
        Option("max-input-tokens", integer(min=1), group=BATCH_GROUP, help="input limit (default: the model's)"),
        Option("decoding", choice("beam", "greedy", "sample"), "beam", group=DECODING_GROUP),
        Option("num-beams", integer(min=1), 4, group=DECODING_GROUP),
        Option("top-k", integer(min=0), 0, group=DECODING_GROUP,
               help="sample: keep the k most likely tokens (0 = all)"),
        Option("top-p", number(min=0.0, max=1.0, min_open=True), 1.0, group=DECODING_GROUP,
               help="sample: nucleus probability mass"),
        Option("temperature", number(min=0.0, min_open=True), 1.0, group=DECODING_GROUP),
        Option("n", integer(min=1), 1, group=DECODING_GROUP, help="hypotheses per input, one output record each"),
        Option("max-new-tokens", integer(min=1), 256, group=DECODING_GROUP),
    )


# Device, dtype and threads of the translation (and tagger) models.
RUNTIME_OPTIONS = (
    Option("device", device, "auto", group=MODEL_GROUP, help="auto | cpu | cuda | cuda:N"),
    Option("dtype", choice("float32", "float16", "bfloat16"), "float32", group=MODEL_GROUP,
           help="weights dtype on GPU (CPU always runs float32)"),
    Option("threads", integer(min=1), 1, group=MODEL_GROUP,
           help="CPU threads per worker (torch, or CTranslate2 with --engine ct2)"),
)

OPTIONS = translate_options(required=True) + RUNTIME_OPTIONS


def decoding(o):
    from xlaug.transforms.errors import UsageError
    from xlaug.transforms.seq2seq import Decoding
    try:
        return Decoding(mode=o.decoding, num_beams=o.num_beams, n=o.n, top_k=o.top_k, top_p=o.top_p,
                        temperature=o.temperature, seed=o.seed, max_new_tokens=o.max_new_tokens)
    except ValueError as e:
        raise UsageError(f"decoding options: {e}") from None


def check_translation(o) -> None:
    """Before any work, from config.json and tokenizer files only: each model is
    a seq2seq model, and has a code for each language (NLLB/M2M) or a prefix (T5)."""
    from xlaug.transforms.errors import UsageError
    from xlaug.transforms.models import ModelLoadError, check_model
    from xlaug.transforms.seq2seq import Translator
    decoding(o)
    if o.engine == "ct2":
        from xlaug.transforms.ct2 import is_ct2_folder, require_ctranslate2
        from xlaug.transforms.models import ModelLoadError as _LoadError
        try:
            require_ctranslate2()
        except _LoadError as e:
            raise UsageError(f"--engine ct2: {e}") from None
        if o.ct2_model and not is_ct2_folder(o.ct2_model):
            raise UsageError(f"--ct2-model: '{o.ct2_model}' is not a CTranslate2 model folder (no model.bin)")
    elif o.compute_type or o.ct2_model:
        raise UsageError("--compute-type and --ct2-model need --engine ct2 (the hf engine uses --dtype)")
    src, tgt = o.src_code or o.src_lang, o.tgt_code or o.tgt_lang
    for option, name, langs in (("--translate-model", o.translate_model, (src, tgt)),
                                ("--round-trip-model", o.round_trip_model, (tgt, src))):
        if not name:
            continue
        check_model(name, option, kind="seq2seq")
        try:
            Translator(name, src_lang=langs[0], tgt_lang=langs[1],
                       prefix=o.prefix if option == "--translate-model" else None).load_tokenizer()
        except ModelLoadError as e:
            raise UsageError(f"{option}: {e}") from None


def build_stages(o) -> list:
    from xlaug.transforms.backtranslate import BackTranslate
    check_translation(o)
    return [BackTranslate(
        o.translate_model, o.src_lang, o.tgt_lang,
        decoding=decoding(o), round_trip_model=o.round_trip_model,
        long_input=o.long_input, device=o.device, dtype=o.dtype, threads=o.threads,
        batch_tokens=o.batch_tokens, max_batch_size=o.translate_batch_size,
        bucketing=not o.no_bucketing, src_code=o.src_code, tgt_code=o.tgt_code,
        prefix=o.prefix, max_input_tokens=o.max_input_tokens, large_model=o.large_model,
        engine=o.engine, compute_type=o.compute_type, ct2_model=o.ct2_model)]
