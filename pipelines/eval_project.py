"""``xlaug eval project``: project gold source labels onto the target tokens
of a sentence-parallel CoNLL pair and score them against the target's gold
labels (span P/R/F1, exact span + type).  Plain batched calls, no Beam."""
from __future__ import annotations

import argparse
import sys
import time

HELP = "projection quality: span precision/recall/F1 of source labels projected onto target gold"
DESCRIPTION = HELP + ". Last line: F1=<value>."

# What won on en->de Europarl (docs/projection.md); shared with `run project`.
DEFAULT_LAYER = 7
DEFAULT_METHOD = "itermax"
DEFAULT_GAP = 1

def add_policy_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("projection policy")
    g.add_argument("--gap", type=int, default=DEFAULT_GAP,
                   help="fill at most this many target words between linked ones; wider holes split the span")
    g.add_argument("--no-trim", dest="trim", action="store_false", help="keep punctuation at span edges")
    g.add_argument("--derived-type", default="MISC",
                   help="type for a capitalised name projected onto lowercase words only "
                        "(derived adjective); 'none' keeps the source type")
    g.add_argument("--min-confidence", type=float, default=0.0,
                   help="spans projected with lower confidence count as missing")


def add_aligner_arguments(p: argparse.ArgumentParser, model_flag: str = "--model",
                          required: bool = True) -> None:
    """The aligner's options, with the layer and method that project best."""
    from xlaug.pipelines.align_args import add_align_arguments
    add_align_arguments(p, model_flag=model_flag, required=required)
    p.set_defaults(layer=DEFAULT_LAYER, method=DEFAULT_METHOD)


def policy_from_args(args):
    from xlaug.transforms.project import ProjectionPolicy
    from xlaug.pipelines.cli import CliError
    dt = None if str(args.derived_type).lower() == "none" else args.derived_type
    try:
        return ProjectionPolicy(gap=args.gap, trim=args.trim, derived_type=dt,
                                on_missing=getattr(args, "on_missing", "drop"),
                                min_confidence=args.min_confidence)
    except ValueError as e:
        raise CliError(f"projection policy: {e}") from None


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", required=True, help="CoNLL file with the source tokens and gold tags")
    p.add_argument("--target", required=True, help="CoNLL file, sentence k = translation of source sentence k")
    add_aligner_arguments(p)
    add_policy_arguments(p)
    p.add_argument("--limit", type=int, default=None, help="only the first N sentence pairs")


def main(args) -> int:
    from xlaug.pipelines.cli import CliError
    from xlaug.transforms.readers import InputError, InputSpec, read_strict
    from xlaug.pipelines.align_args import aligner_kwargs_from_args
    from xlaug.transforms.align import WordAligner
    from xlaug.transforms import bio
    from xlaug.transforms.project import project_spans, span_prf

    # The pipeline's CoNLL reader, strict: a stray I-X reads as B-X (conlleval),
    # anything else wrong stops with file:line.
    spec = InputSpec("conll", args.source, target=args.target, target_format="conll",
                     fix_bio=True, limit=args.limit)
    try:
        records = list(read_strict(spec))
    except InputError as e:
        raise CliError(f"{e} (sentence-parallel CoNLL files expected)") from None
    if not records:
        raise CliError(f"{args.source}: no sentences")
    src = [(list(r.src_tokens), list(r.src_labels), r.loc) for r in records]
    tgt = [(list(r.tgt_tokens), list(r.tgt_labels), r.loc) for r in records]
    policy = policy_from_args(args)
    t0 = time.time()
    from xlaug.transforms.models import require_model
    require_model(args.align_model, "--model")
    aligner = WordAligner(args.align_model, **aligner_kwargs_from_args(args))
    try:
        alignments = []
        for k in range(0, len(src), args.align_batch_size):
            alignments += aligner.align([(s[0], t[0]) for s, t in zip(src[k:k + args.align_batch_size],
                                                                       tgt[k:k + args.align_batch_size])])
    except (OSError, ValueError) as e:
        raise CliError(f"{args.align_model}: cannot align with it: {e}") from None
    t_align = time.time() - t0
    gold, pred = [], []
    status = {"projected": 0, "missing": 0, "overlap": 0, "low_confidence": 0}
    failed = 0
    for (stoks, stags, _), (ttoks, ttags, line), a in zip(src, tgt, alignments):
        gold.append(ttags)
        if a.error:  # counted as predicting nothing for this pair
            failed += 1
            pred.append(["O"] * len(ttoks))
            continue
        labels, results = project_spans(bio.spans(stags), a.links, len(ttoks), a.scores, policy,
                                        ttoks, stoks)
        for r in results:
            status[r.status] += 1
        pred.append(labels)
    r = span_prf(gold, pred)
    print(f"pairs={len(src)} aligner={type(aligner).__name__} model={args.align_model} layer={args.layer} "
          f"method={args.method} gap={policy.gap} trim={policy.trim} derived_type={policy.derived_type}")
    print(f"align_seconds={t_align:.1f} pairs_per_second={len(src) / max(t_align, 1e-9):.1f} "
          f"align_failed={failed}")
    print("source spans: " + " ".join(f"{k}={v}" for k, v in status.items()))
    print(f"{'type':<8}{'P':>8}{'R':>8}{'F1':>8}{'gold':>7}{'pred':>7}")
    for typ, s in r["per_type"].items():
        print(f"{typ:<8}{s['precision']:8.3f}{s['recall']:8.3f}{s['f1']:8.3f}{s['gold']:7d}{s['pred']:7d}")
    print(f"{'all':<8}{r['precision']:8.3f}{r['recall']:8.3f}{r['f1']:8.3f}{r['gold']:7d}{r['pred']:7d}")
    print(f"P={r['precision']:.4f} R={r['recall']:.4f}")
    print(f"F1={r['f1']:.4f}")
    sys.stdout.flush()
    return 0
