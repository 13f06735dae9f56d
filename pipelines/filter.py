"""``xlaug run filter``: score and filter a corpus, deduplicate it, optionally
re-balance its languages, and write a training-ready dataset with a report.

Filter options come from individual flags, and, on top of them, from
``--filters`` (a YAML/JSON mapping or a YAML file; or the ``filters:`` key of
``--config``) in the form ``build_filters`` takes:
``{langid: {min_score: 0.8}, length: {max_tokens: 100}, roundtrip: false}``.
"""
from __future__ import annotations

import os

from xlaug.pipelines.options import SEGMENTER, Option, choice, integer, mapping, number, text
from xlaug.transforms.filters import (DEFAULT_CONFIG, FILTERS, RATIO_UNITS, AlignmentCoverageFilter, FilterConfigError,
                                      LangIdFilter, LengthFilter, LengthRatioFilter, RoundTripFilter)
from xlaug.transforms.langcodes import LANGID_LANGUAGES, to_iso1

HELP = "score and filter a corpus (langid, length, ratio, coverage, round-trip), dedup, sample"
DESCRIPTION = (
    "Read a monolingual or parallel corpus, score every record with the quality filters "
    "(scores are kept on the record), reject what fails with a reason, remove duplicates "
    "across the whole corpus, optionally down-sample over-represented languages, and write "
    "the dataset, the rejected records and a report. Beam runner options pass through.")


def _default(cls, option):
    """Defaults live on the filter classes (one place); the options show them."""
    import inspect
    return inspect.signature(cls.__init__).parameters[option].default


G, D = "filters", "dedup and sampling"
OPTIONS = (
    Option("filters", mapping, metavar="MAPPING", group=G,
           help="filter options as YAML/JSON (or a YAML file), applied on top of the flags, "
                "e.g. '{langid: {min_score: 0.8}, roundtrip: false}'"),
    Option("skip", text, "", metavar="FILTER[,FILTER]", group=G,
           help=f"filters to leave out (of: {', '.join(FILTERS)})"),
    Option("min-langid", number(min=0.0, max=1.0), _default(LangIdFilter, "min_score"), group=G,
           help="minimum langid probability of the expected language, per side"),
    Option("langid-languages", text, metavar="L1,L2|all", group=G,
           help="candidate languages for langid (default: --src-lang and --tgt-lang, plus "
                f"{','.join(LangIdFilter.DEFAULT_EXTRA)} so two languages are not trivially "
                "told apart); 'all' for langid's 97"),
    Option("min-tokens", integer(min=0), _default(LengthFilter, "min_tokens"), group=G),
    Option("max-tokens", integer(min=1), _default(LengthFilter, "max_tokens"), group=G),
    Option("min-chars", integer(min=0), _default(LengthFilter, "min_chars"), group=G),
    Option("max-chars", integer(min=1), _default(LengthFilter, "max_chars"), group=G),
    Option("max-ratio", number(min=1.0), _default(LengthRatioFilter, "max_ratio"), group=G,
           help="maximum max(src,tgt)/min(src,tgt) length ratio"),
    Option("ratio-unit", choice(*RATIO_UNITS), _default(LengthRatioFilter, "unit"), group=G,
           help="length unit of the ratio and the token bounds: words (text segmented into words, "
                "see --segmenter), chars, or tokens (whitespace split)"),
    SEGMENTER,
    Option("min-coverage", number(min=0.0, max=1.0), _default(AlignmentCoverageFilter, "min_coverage"),
           group=G, help="minimum share of aligned words (records with an alignment only)"),
    Option("require-alignment", flag=True, group=G,
           help="reject records without an alignment (no_alignment)"),
    Option("min-rt-chrf", number(), _default(RoundTripFilter, "min_chrf"), group=G,
           help="minimum round-trip chrF (records with rt_chrf only); negative: off"),
    Option("min-rt-bleu", number(), _default(RoundTripFilter, "min_bleu"), group=G,
           help="minimum round-trip sentence BLEU (records with rt_bleu only)"),
    Option("require-roundtrip", flag=True, group=G,
           help="reject records without round-trip scores (no_roundtrip_score)"),
    Option("filter-batch-size", integer(min=1), 256, group=G, help="records scored per call"),
    Option("dedup", choice("exact", "normalized", "off"), "normalized", group=D,
           help="exact: same text; normalized: same after case/punctuation/whitespace/digit "
                "normalisation; off"),
    Option("sample-alpha", number(min=0.0), group=D,
           help="down-sample languages to shares proportional to n**alpha (0..1; off when not given)"),
    Option("sample-by", choice("pair", "src", "tgt"), "pair", group=D, help="what a 'language' is for sampling"),
)


def filter_config(args) -> dict:
    """The ``build_filters`` mapping the options describe."""
    from xlaug.transforms.errors import UsageError as CliError

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
                   "min_chars": args.min_chars, "max_chars": args.max_chars,
                   "segmenter": args.segmenter},
        "length_ratio": {"max_ratio": args.max_ratio, "unit": args.ratio_unit,
                         "segmenter": args.segmenter},
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
    from xlaug.transforms.errors import UsageError as CliError

    if value is None or value == "":
        return {}
    if isinstance(value, dict):
        return value
    from xlaug.pipelines.options import load_yaml_text

    where = "--filters"
    text = str(value)
    from xlaug.transforms import storage
    if os.path.isfile(text) or (storage.is_remote(text) and "\n" not in text and storage.exists(text)):
        where = text
        text = storage.read_text(text)
    data = load_yaml_text(text, where)
    if isinstance(data, dict) and set(data) == {"filters"}:
        data = data["filters"]  # a whole config-style file
    if not isinstance(data, dict):
        raise CliError(f"{where}: expected a mapping of filter names to options, e.g. "
                       "'{length: {max_tokens: 100}}'")
    return data


def build_stages(args) -> list:
    """[filter, dedup, (sampling)]: stages (xlaug.transforms.stage.Step).

    The sampling stage's context (its language shares) goes into the report.
    """
    from xlaug.transforms.errors import UsageError as CliError
    from xlaug.transforms.dedup import Dedup
    from xlaug.transforms.filter_step import FilterStep
    from xlaug.transforms.filters import build_filters
    from xlaug.transforms.sampling import Sampling

    from xlaug.transforms.segment import check_segmenter
    check_segmenter(args.segmenter, (getattr(args, "src_lang", None), getattr(args, "tgt_lang", None)))
    try:
        filters = build_filters(filter_config(args))
    except FilterConfigError as e:
        raise CliError(str(e)) from None
    stages = [FilterStep(filters, batch_size=args.filter_batch_size), Dedup(args.dedup)]
    if args.sample_alpha is not None:
        stages.append(Sampling(args.sample_alpha, seed=args.seed, by=args.sample_by))
    return stages

