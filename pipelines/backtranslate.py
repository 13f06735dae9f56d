"""``xlaug run backtranslate``: translate a corpus with a Hugging Face seq2seq model.

Beam, torch and transformers are imported inside functions (``xlaug --help`` stays fast).
"""
from __future__ import annotations

import argparse

HELP = "back-translate text with a Hugging Face seq2seq model (Marian, NLLB, M2M100, T5)"
DESCRIPTION = (
    "Translate each record's source text (src_lang -> tgt_lang) into tgt_text with a "
    "seq2seq model named by hub id or local directory, through Beam RunInference with "
    "length-bucketed batches. src stays the human side, tgt is generated: to train MT on "
    "the result, use tgt as the source side. Optional round trip (--round-trip-model) "
    "adds rt_bleu and rt_chrf scores.")
ACCEPTS_BEAM_ARGS = True


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """The options of this command alone (input/output/runner options come from common)."""
    g = p.add_argument_group("model")
    g.add_argument("--model", required=True, help="hub id or local directory of a seq2seq model")
    g.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    g.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"],
                   help="weights dtype on GPU (CPU always runs float32)")
    g.add_argument("--threads", type=int, default=1, help="torch CPU threads per worker")
    g.add_argument("--src-code", help="the model's own source language code (e.g. eng_Latn); "
                                      "default: mapped from --src-lang")
    g.add_argument("--tgt-code", help="the model's own target language code (e.g. deu_Latn)")
    g.add_argument("--prefix", help="task prefix for T5-type models (default: 'translate X to Y: ')")
    g.add_argument("--round-trip-model", help="model for the way back (tgt -> src); adds rt_bleu, rt_chrf")
    g.add_argument("--large-model", action="store_true",
                   help="load one model per machine shared by worker processes (Beam large_model)")
    b = p.add_argument_group("batching")
    b.add_argument("--batch-tokens", type=int, default=4096,
                   help="padded source tokens x hypotheses per generate call")
    b.add_argument("--max-batch-size", type=int, default=64, help="most inputs per generate call")
    b.add_argument("--no-bucketing", action="store_true",
                   help="batch in arrival order without sorting by length (for comparison only)")
    b.add_argument("--long-input", default="split", choices=["split", "reject"],
                   help="inputs over the model limit: split on sentence boundaries, or reject too_long")
    b.add_argument("--max-input-tokens", type=int, help="input limit (default: the model's)")
    d = p.add_argument_group("decoding")
    d.add_argument("--decoding", default="beam", choices=["beam", "greedy", "sample"])
    d.add_argument("--num-beams", type=int, default=4)
    d.add_argument("--top-k", type=int, default=0, help="sample: keep the k most likely tokens (0 = all)")
    d.add_argument("--top-p", type=float, default=1.0, help="sample: nucleus probability mass")
    d.add_argument("--temperature", type=float, default=1.0)
    d.add_argument("--n", type=int, default=1, help="hypotheses per input, one output record each")
    d.add_argument("--max-new-tokens", type=int, default=256)
    if not any(a.dest == "seed" for a in p._actions):
        d.add_argument("--seed", type=int, default=0, help="seed for sampling")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from xlaug.pipelines import common
    common.add_input_arguments(p)
    common.add_output_arguments(p)
    common.add_runner_arguments(p)
    add_model_arguments(p)


add_stage_arguments = add_model_arguments  # for run chain --step "backtranslate ..."


def decoding_from_args(args):
    from xlaug.pipelines.cli import CliError
    from xlaug.transforms.seq2seq import Decoding
    try:
        return Decoding(mode=args.decoding, num_beams=args.num_beams, n=args.n, top_k=args.top_k,
                        top_p=args.top_p, temperature=args.temperature, seed=getattr(args, "seed", 0) or 0,
                        max_new_tokens=args.max_new_tokens)
    except ValueError as e:
        raise CliError(f"decoding options: {e}") from None


def check_args(args) -> None:
    """User errors found before any pipeline starts, each as one line."""
    from xlaug.pipelines.cli import CliError
    from xlaug.transforms.models import require_model
    decoding_from_args(args)
    for opt in ("batch_tokens", "max_batch_size", "threads"):
        if getattr(args, opt) is not None and getattr(args, opt) < 1:
            raise CliError(f"--{opt.replace('_', '-')} must be at least 1")
    for opt, name in (("--model", args.model), ("--round-trip-model", args.round_trip_model)):
        if name:
            require_model(name, opt)


def build_stages(args) -> list:
    from xlaug.transforms.backtranslate import BackTranslate
    check_args(args)
    return [BackTranslate(
        args.model, getattr(args, "src_lang", None), getattr(args, "tgt_lang", None),
        decoding=decoding_from_args(args), round_trip_model=args.round_trip_model,
        long_input=args.long_input, device=args.device, dtype=args.dtype, threads=args.threads,
        batch_tokens=args.batch_tokens, max_batch_size=args.max_batch_size,
        bucketing=not args.no_bucketing, src_code=args.src_code, tgt_code=args.tgt_code,
        prefix=args.prefix, max_input_tokens=args.max_input_tokens, large_model=args.large_model)]


def main(args) -> int:
    from xlaug.pipelines.common import run_pipeline
    stages = build_stages(args)
    return 0 if run_pipeline(args, stages, command="backtranslate")["identity_ok"] else 1
