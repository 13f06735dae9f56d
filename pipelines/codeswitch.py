"""``xlaug run codeswitch``: code-switched text from aligned pairs (ALM) or a lexicon.

Light at import time: Beam, torch and the aligner load inside build_stages.
"""
from __future__ import annotations

from xlaug.pipelines.align_args import align_options
from xlaug.pipelines.options import Option, choice, integer, number, path, text

HELP = "code-switch text: ALM phrase swapping of aligned pairs, or dictionary replacement"
DESCRIPTION = (
    HELP + ". --mode alm swaps phrases of parallel pairs consistent with their word alignment "
    "(pairs without links are aligned first when --align-model is given, else rejected); "
    "--mode lexicon replaces words of monolingual sentences with lexicon translations. "
    "Output tgt_tokens is the mixed sentence, token_langs its per-token languages, tgt_lang "
    "'MATRIX-EMBEDDED' (e.g. en-de); scores cmi, switch_points, alpha.")

GROUP = "code-switching"
OPTIONS = (
    Option("mode", choice("alm", "lexicon"), "alm", group=GROUP,
           help="alm: swap aligned phrases of parallel pairs; lexicon: dictionary replacement"),
    Option("alpha", number(min=0.0, max=1.0, min_open=True, max_open=True), 0.3, group=GROUP,
           help="alm: asked share of output tokens from the embedded (non-matrix) language"),
    Option("max-phrase-len", integer(min=1), 3, group=GROUP, help="alm: longest phrase swapped, in words (each side)"),
    Option("max-swaps", integer(min=1), 8, group=GROUP, help="alm: most phrases swapped per sentence"),
    Option("matrix", choice("src", "tgt"), "src", group=GROUP,
           help="alm: the side whose sentence is the frame; phrases of the other side are inserted"),
    Option("extend-unaligned", flag=True, group=GROUP,
           help="alm: also use phrase pairs grown over unaligned boundary words"),
    Option("samples", integer(min=1), 1, group=GROUP, help="code-switched sentences per input (distinct)"),
    Option("lexicon", path, metavar="FILE|NAME", group=GROUP,
           help="lexicon: file (tab/space columns, MUSE) or shipped name, e.g. en-de"),
    Option("prob", number(min=0.0, max=1.0, min_open=True), 0.3, group=GROUP,
           help="lexicon: replacement probability per match"),
    Option("stopwords", metavar="en|FILE|W1,W2", group=GROUP,
           help="lexicon: words never replaced: 'en', a file (one a line) or w1,w2,..."),
    Option("exclude-tags", text, "", group=GROUP,
           help="lexicon: labels (e.g. POS tags DET,ADP) whose words are never replaced"),
    Option("choice", choice("weight", "uniform"), "weight", group=GROUP,
           help="lexicon: pick among translations by weight (when the lexicon has one) or uniformly"),
    Option("keep-entities", flag=True, group=GROUP, help="lexicon: never replace words inside entities"),
) + align_options("align")  # alm: encoder to align pairs that have no links (else rejected)


def check_lexicon(o) -> None:
    """The lexicon reads, and translates from the run's source language into its target."""
    from xlaug.dictionaries import LexiconError, load_lexicon
    from xlaug.transforms.errors import UsageError
    from xlaug.transforms.langcodes import to_iso1
    from xlaug.transforms.lexicon_replace import load_stopwords
    if not o.lexicon:
        raise UsageError("--mode lexicon needs --lexicon FILE|NAME")
    try:
        lex = load_lexicon(o.lexicon)  # fail now, with file:line, not on a worker
        load_stopwords(o.stopwords)
    except (LexiconError, ValueError) as e:
        raise UsageError(str(e)) from None
    for option, run_lang, lex_lang, side in (("--src-lang", o.src_lang, lex.src_lang, "from"),
                                             ("--tgt-lang", o.tgt_lang, lex.tgt_lang, "into")):
        if run_lang and lex_lang and to_iso1(run_lang) != to_iso1(lex_lang):
            raise UsageError(f"--lexicon {o.lexicon}: translates {lex.src_lang}->{lex.tgt_lang}, "
                             f"but {option} is {run_lang} (the lexicon must translate {side} it)")


def build_stages(o) -> list:
    if o.mode == "lexicon":
        from xlaug.transforms.lexicon_replace import LexiconReplaceStep
        from xlaug.transforms.segment import check_segmenter
        check_lexicon(o)
        check_segmenter(o.segmenter, (getattr(o, "src_lang", None),))
        tags = [t for t in o.exclude_tags.split(",") if t.strip()]
        return [LexiconReplaceStep(
            o.lexicon, prob=o.prob, stopwords=o.stopwords, exclude_tags=tags,
            choice=o.choice, samples=o.samples, seed=o.seed, keep_entities=o.keep_entities,
            segmenter=o.segmenter)]
    from xlaug.transforms.codeswitch import CodeSwitchStep
    stages = []
    if o.align_model:
        from xlaug.pipelines.align_args import align_step
        stages.append(align_step(o, only_missing=True))
    stages.append(CodeSwitchStep(
        alpha=o.alpha, max_phrase_len=o.max_phrase_len, max_swaps=o.max_swaps,
        matrix=o.matrix, samples=o.samples, seed=o.seed, extend_unaligned=o.extend_unaligned))
    return stages
