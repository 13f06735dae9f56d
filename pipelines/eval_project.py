"""``xlaug eval project``: project gold source labels onto the target tokens
of a sentence-parallel CoNLL pair and score them against the target's gold
labels (span P/R/F1, exact span + type).  Plain batched calls, no Beam; the
scoring is xlaug.transforms.metrics.projection_scores."""
from __future__ import annotations

import sys
import time

from xlaug.pipelines.align_args import align_options
from xlaug.pipelines.options import Option, integer, path
from xlaug.pipelines.project import POLICY_OPTIONS

HELP = "projection quality: span precision/recall/F1 of source labels projected onto target gold"
DESCRIPTION = HELP + ". Last line: F1=<value>."

OPTIONS = (
    Option("source", path, required=True, metavar="FILE", help="CoNLL file with the source tokens and gold tags"),
    Option("target", path, required=True, metavar="FILE",
           help="CoNLL file, sentence k = translation of source sentence k"),
    Option("limit", integer(min=1), metavar="N", help="only the first N sentence pairs"),
) + align_options("project", required=True,
                  old={"align-model": ("model",), "align-batch-size": ("batch-size",)}) + POLICY_OPTIONS


def main(o) -> int:
    from xlaug.pipelines.align_args import aligner_kwargs, check_aligner
    from xlaug.pipelines.project import policy
    from xlaug.transforms.errors import UsageError
    from xlaug.transforms.metrics import projection_scores
    from xlaug.transforms.readers import InputError, InputSpec, read_strict

    # The pipeline's CoNLL reader, strict: a stray I-X reads as B-X (conlleval),
    # anything else wrong stops with file:line.
    spec = InputSpec("conll", o.source, target=o.target, target_format="conll", fix_bio=True, limit=o.limit)
    try:
        records = list(read_strict(spec))
    except InputError as e:
        raise UsageError(f"{e} (sentence-parallel CoNLL files expected)") from None
    if not records:
        raise UsageError(f"{o.source}: no sentences")
    pairs = [(list(r.src_tokens), list(r.src_labels), list(r.tgt_tokens), list(r.tgt_labels)) for r in records]
    rules = policy(o)
    check_aligner(o)
    t0 = time.time()
    from xlaug.transforms.align import WordAligner
    try:
        aligner = WordAligner(o.align_model, **aligner_kwargs(o))
        alignments = aligner.align([(p[0], p[2]) for p in pairs])
    except (OSError, ValueError) as e:
        raise UsageError(f"--align-model {o.align_model}: cannot align with it: {e}") from None
    t_align = time.time() - t0
    r = projection_scores(pairs, alignments, rules)
    print(f"pairs={len(pairs)} aligner={type(aligner).__name__} model={o.align_model} layer={o.align_layer} "
          f"method={o.align_method} gap={rules.gap} trim={rules.trim} derived_type={rules.derived_type}")
    print(f"align_seconds={t_align:.1f} pairs_per_second={len(pairs) / max(t_align, 1e-9):.1f} "
          f"align_failed={r['align_failed']}")
    print("source spans: " + " ".join(f"{k}={v}" for k, v in r["status"].items()))
    print(f"{'type':<8}{'P':>8}{'R':>8}{'F1':>8}{'gold':>7}{'pred':>7}")
    for typ, s in r["per_type"].items():
        print(f"{typ:<8}{s['precision']:8.3f}{s['recall']:8.3f}{s['f1']:8.3f}{s['gold']:7d}{s['pred']:7d}")
    print(f"{'all':<8}{r['precision']:8.3f}{r['recall']:8.3f}{r['f1']:8.3f}{r['gold']:7d}{r['pred']:7d}")
    print(f"P={r['precision']:.4f} R={r['recall']:.4f}")
    print(f"F1={r['f1']:.4f}")
    sys.stdout.flush()
    return 0
