"""``xlaug run codeswitch``: code-switched text from aligned pairs (ALM) or a lexicon.

Light at import time: Beam, torch and simalign load inside build_stages/main.
"""
from __future__ import annotations

HELP = "code-switch text: ALM phrase swapping of aligned pairs, or dictionary replacement"
DESCRIPTION = (
    HELP + ". --mode alm swaps phrases of parallel pairs consistent with their word alignment "
    "(pairs without links are aligned first when --align-model is given, else rejected); "
    "--mode lexicon replaces words of monolingual sentences with lexicon translations. "
    "Output tgt_tokens is the mixed sentence, token_langs its per-token languages, tgt_lang "
    "'MATRIX-EMBEDDED' (e.g. en-de); scores cmi, switch_points, alpha.")
ACCEPTS_BEAM_ARGS = True


def _add(p, *flags, **kw):
    """Add an option unless a shared helper already did (e.g. --seed)."""
    if not any(f in p._option_string_actions for f in flags):
        p.add_argument(*flags, **kw)


def add_arguments(p) -> None:
    from xlaug.pipelines import common
    common.add_input_arguments(p)
    common.add_output_arguments(p)  # brings --seed
    common.add_runner_arguments(p)
    add_stage_arguments(p)


def add_stage_arguments(p) -> None:
    """The options of this stage alone (``run chain --step "codeswitch ..."``);
    --seed is shared with the other stages."""
    g = p.add_argument_group("code-switching")
    _add(g, "--mode", choices=["alm", "lexicon"], default="alm",
         help="alm: swap aligned phrases of parallel pairs; lexicon: dictionary replacement")
    _add(g, "--alpha", type=float, default=0.3,
         help="alm: asked share of output tokens from the embedded (non-matrix) language")
    _add(g, "--max-phrase-len", type=int, default=3, help="alm: longest phrase swapped, in words (each side)")
    _add(g, "--max-swaps", type=int, default=8, help="alm: most phrases swapped per sentence")
    _add(g, "--matrix", choices=["src", "tgt"], default="src",
         help="alm: the side whose sentence is the frame; phrases of the other side are inserted")
    _add(g, "--extend-unaligned", action="store_true",
         help="alm: also use phrase pairs grown over unaligned boundary words")
    _add(g, "--samples", type=int, default=1, help="code-switched sentences per input (distinct)")
    _add(g, "--lexicon", help="lexicon: file (tab/space columns, MUSE) or shipped name, e.g. en-de")
    _add(g, "--prob", type=float, default=0.3, help="lexicon: replacement probability per match")
    _add(g, "--stopwords", help="lexicon: words never replaced: 'en', a file (one a line) or w1,w2,...")
    _add(g, "--exclude-tags", default="",
         help="lexicon: labels (e.g. POS tags DET,ADP) whose words are never replaced")
    _add(g, "--choice", choices=["weight", "uniform"], default="weight",
         help="lexicon: pick among translations by weight (when the lexicon has one) or uniformly")
    _add(g, "--keep-entities", action="store_true", help="lexicon: never replace words inside entities")
    from xlaug.pipelines.align_args import add_align_arguments
    if "--align-model" not in p._option_string_actions:
        add_align_arguments(p)  # alm: encoder to align pairs that have no links (else rejected)


def check_arguments(args) -> None:
    from xlaug.pipelines.cli import CliError
    if args.mode == "alm" and not 0.0 < args.alpha < 1.0:
        raise CliError(f"--alpha must be between 0 and 1 (exclusive), got {args.alpha}")
    for name in ("max_phrase_len", "max_swaps", "samples"):
        if getattr(args, name) < 1:
            raise CliError(f"--{name.replace('_', '-')} must be at least 1")
    if args.mode == "alm" and args.align_model:
        from xlaug.transforms.models import require_model
        require_model(args.align_model, "--align-model")
    if args.mode == "lexicon":
        if not args.lexicon:
            raise CliError("--mode lexicon needs --lexicon FILE|NAME")
        if not 0.0 < args.prob <= 1.0:
            raise CliError(f"--prob must be in (0, 1], got {args.prob}")
        from xlaug.dictionaries import LexiconError, load_lexicon
        try:
            load_lexicon(args.lexicon)  # fail now, with file:line, not on a worker
        except LexiconError as e:
            raise CliError(str(e)) from None
        from xlaug.transforms.lexicon_replace import load_stopwords
        try:
            load_stopwords(args.stopwords)
        except ValueError as e:
            raise CliError(str(e)) from None


def build_stages(args) -> list:
    check_arguments(args)  # also when a chain builds this stage
    if args.mode == "lexicon":
        from xlaug.transforms.lexicon_replace import LexiconReplaceStep
        tags = [t for t in args.exclude_tags.split(",") if t.strip()]
        return [LexiconReplaceStep(
            args.lexicon, prob=args.prob, stopwords=args.stopwords, exclude_tags=tags,
            choice=args.choice, samples=args.samples, seed=args.seed,
            keep_entities=args.keep_entities)]
    from xlaug.transforms.codeswitch import CodeSwitchStep
    stages = []
    if args.align_model:
        from xlaug.pipelines.align_args import aligner_kwargs_from_args
        from xlaug.transforms.align import AlignStep
        stages.append(AlignStep(args.align_model, only_missing=True, **aligner_kwargs_from_args(args)))
    stages.append(CodeSwitchStep(
        alpha=args.alpha, max_phrase_len=args.max_phrase_len, max_swaps=args.max_swaps,
        matrix=args.matrix, samples=args.samples, seed=args.seed,
        extend_unaligned=args.extend_unaligned))
    return stages


def main(args) -> int:
    check_arguments(args)
    from xlaug.pipelines.common import run_pipeline
    report = run_pipeline(args, build_stages(args), command="codeswitch")
    return 0 if report["identity_ok"] else 1
