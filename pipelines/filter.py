"""``xlaug run filter``: score and filter a corpus, deduplicate it, optionally
re-balance its languages, and write a training-ready dataset with a report.

Filter options come from individual flags, and, on top of them, from
``--filters`` (a YAML/JSON mapping or a YAML file; or the ``filters:`` key of
``--config``) in the form ``build_filters`` takes:
``{langid: {min_score: 0.8}, length: {max_tokens: 100}, roundtrip: false}``.
"""
from __future__ import annotations

import argparse
import os

from xlaug.pipelines import common
from xlaug.transforms.filters import (DEFAULT_CONFIG, FILTERS, AlignmentCoverageFilter, FilterConfigError,
                                LangIdFilter, LengthFilter, LengthRatioFilter, RoundTripFilter)
from xlaug.transforms.langcodes import LANGID_LANGUAGES, to_iso1

HELP = "score and filter a corpus (langid, length, ratio, coverage, round-trip), dedup, sample"
DESCRIPTION = (
    "Read a monolingual or parallel corpus, score every record with the quality filters "
    "(scores are kept on the record), reject what fails with a reason, remove duplicates "
    "across the whole corpus, optionally down-sample over-represented languages, and write "
    "the dataset, the rejected records and a report. Beam runner options pass through.")
ACCEPTS_BEAM_ARGS = True


def _default(cls, option):
    import inspect
    return inspect.signature(cls.__init__).parameters[option].default


def add_arguments(parser: argparse.ArgumentParser) -> None:
    common.add_input_arguments(parser)
    common.add_output_arguments(parser)
    common.add_runner_arguments(parser)
    add_stage_arguments(parser)


def add_stage_arguments(parser: argparse.ArgumentParser) -> None:
    """The filter options alone (also for run chain --step "filter ...")."""
    g = parser.add_argument_group("filters")
    g.add_argument("--filters", metavar="MAPPING",
                   help="filter options as YAML/JSON (or a YAML file), applied on top of the flags, "
                        "e.g. '{langid: {min_score: 0.8}, roundtrip: false}'")
    g.add_argument("--skip", metavar="FILTER[,FILTER]", default="",
                   help=f"filters to leave out (of: {', '.join(FILTERS)})")
    g.add_argument("--min-langid", type=float, default=_default(LangIdFilter, "min_score"),
                   help="minimum langid probability of the expected language, per side")
    g.add_argument("--langid-languages", metavar="L1,L2|all",
                   help="candidate languages for langid (default: --src-lang and --tgt-lang, plus "
                        f"{','.join(LangIdFilter.DEFAULT_EXTRA)} so two languages are not trivially "
                        "told apart); 'all' for langid's 97")
    g.add_argument("--min-tokens", type=int, default=_default(LengthFilter, "min_tokens"))
    g.add_argument("--max-tokens", type=int, default=_default(LengthFilter, "max_tokens"))
    g.add_argument("--min-chars", type=int, default=_default(LengthFilter, "min_chars"))
    g.add_argument("--max-chars", type=int, default=_default(LengthFilter, "max_chars"))
    g.add_argument("--max-ratio", type=float, default=_default(LengthRatioFilter, "max_ratio"),
                   help="maximum max(src,tgt)/min(src,tgt) length ratio")
    g.add_argument("--ratio-unit", choices=("tokens", "chars"),
                   default=_default(LengthRatioFilter, "unit"),
                   help="length unit of the ratio (chars for languages written without spaces)")
    g.add_argument("--min-coverage", type=float,
                   default=_default(AlignmentCoverageFilter, "min_coverage"),
                   help="minimum share of aligned words (records with an alignment only)")
    g.add_argument("--require-alignment", action="store_true",
                   help="reject records without an alignment (no_alignment)")
    g.add_argument("--min-rt-chrf", type=float, default=_default(RoundTripFilter, "min_chrf"),
                   help="minimum round-trip chrF (records with rt_chrf only); negative: off")
    g.add_argument("--min-rt-bleu", type=float, default=_default(RoundTripFilter, "min_bleu"),
                   help="minimum round-trip sentence BLEU (records with rt_bleu only)")
    g.add_argument("--require-roundtrip", action="store_true",
                   help="reject records without round-trip scores (no_roundtrip_score)")
    g.add_argument("--filter-batch-size", type=int, default=256,
                   help="records scored per call")
    d = parser.add_argument_group("dedup and sampling")
    d.add_argument("--dedup", choices=("exact", "normalized", "off"), default="normalized",
                   help="exact: same text; normalized: same after case/punctuation/whitespace/digit "
                        "normalisation; off")
    d.add_argument("--sample-alpha", type=float, default=None,
                   help="down-sample languages to shares proportional to n**alpha (0..1; off when not given)")
    d.add_argument("--sample-by", choices=("pair", "src", "tgt"), default="pair",
                   help="what a 'language' is for sampling")


def filter_config(args: argparse.Namespace) -> dict:
    """The ``build_filters`` mapping the options describe."""
    from xlaug.pipelines.cli import CliError

    languages = args.langid_languages
    if languages is None:
        # The corpus languages langid knows; a side in another language is not scored.
        langs = [to_iso1(c) for c in (getattr(args, "src_lang", None), getattr(args, "tgt_lang", None))]
        languages = [c for c in langs if c in LANGID_LANGUAGES] or None
    elif languages.strip().lower() == "all":
        languages = None
    else:
        languages = [c.strip() for c in languages.split(",") if c.strip()]
    chrf = args.min_rt_chrf if args.min_rt_chrf is None or args.min_rt_chrf >= 0 else None
    config = {
        "langid": {"min_score": args.min_langid, "languages": languages},
        "length": {"min_tokens": args.min_tokens, "max_tokens": args.max_tokens,
                   "min_chars": args.min_chars, "max_chars": args.max_chars},
        "length_ratio": {"max_ratio": args.max_ratio, "unit": args.ratio_unit},
        "alignment_coverage": {"min_coverage": args.min_coverage,
                               "required": bool(args.require_alignment)},
        "roundtrip": {"min_chrf": chrf, "min_bleu": args.min_rt_bleu,
                      "required": bool(args.require_roundtrip)},
    }
    assert set(config) == set(DEFAULT_CONFIG)
    for name in (s.strip() for s in (args.skip or "").split(",")):
        if not name:
            continue
        if name not in FILTERS:
            raise CliError(f"--skip: unknown filter '{name}' (known: {', '.join(FILTERS)})")
        config[name] = False
    extra = _load_mapping(args.filters)
    for name, opts in extra.items():
        if name in config and isinstance(opts, dict) and isinstance(config[name], dict):
            config[name] = {**config[name], **opts}
        else:
            config[name] = opts
    return config


def _load_mapping(value) -> dict:
    from xlaug.pipelines.cli import CliError

    if value is None or value == "":
        return {}
    if isinstance(value, dict):
        return value
    import yaml

    where = "--filters"
    text = str(value)
    if os.path.isfile(text):
        where = text
        with open(text, encoding="utf-8") as f:
            text = f.read()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise CliError(f"{where}{line}: not valid YAML: {getattr(e, 'problem', e)}") from None
    if isinstance(data, dict) and set(data) == {"filters"}:
        data = data["filters"]  # a whole config-style file
    if not isinstance(data, dict):
        raise CliError(f"{where}: expected a mapping of filter names to options, e.g. "
                       "'{length: {max_tokens: 100}}'")
    return data


def build_stages(args: argparse.Namespace) -> list:
    """[filter, dedup, (sampling)]: stages (xlaug.transforms.stage.Step).

    The sampling stage's context (its language shares) goes into the report.
    """
    from xlaug.pipelines.cli import CliError
    from xlaug.transforms.dedup import Dedup
    from xlaug.transforms.filter_step import FilterStep
    from xlaug.transforms.filters import build_filters
    from xlaug.transforms.sampling import Sampling

    try:
        filters = build_filters(filter_config(args))
    except FilterConfigError as e:
        raise CliError(str(e)) from None
    if args.filter_batch_size < 1:
        raise CliError("--filter-batch-size must be at least 1")
    stages = [FilterStep(filters, batch_size=args.filter_batch_size), Dedup(args.dedup)]
    if args.sample_alpha is not None:
        if args.sample_alpha < 0:
            raise CliError(f"--sample-alpha must be >= 0, got {args.sample_alpha}")
        stages.append(Sampling(args.sample_alpha, seed=getattr(args, "seed", 0) or 0,
                               by=args.sample_by))
    return stages


def main(args: argparse.Namespace) -> int:
    stages = build_stages(args)
    report = common.run_pipeline(args, stages, command="filter")
    return 0 if report["identity_ok"] else 1
