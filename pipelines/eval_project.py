"""``xlaug eval project``: project gold source labels onto the target tokens
of a sentence-parallel CoNLL pair and score them against the target's gold
labels (span P/R/F1, exact span + type).  Plain batched calls, no Beam; the
scoring is xlaug.transforms.metrics.projection_scores."""
from __future__ import annotations

import sys
import time

from xlaug.pipelines.align_args import align_options
from xlaug.pipelines.options import Option, choice, integer, path
from xlaug.pipelines.project import POLICY_OPTIONS

DIRECTIONS = ("forward", "reverse", "both")
HELP = "projection quality: span precision/recall/F1 of source labels projected onto target gold"
DESCRIPTION = HELP + ". Last line: F1=<value> (with --direction both, the mean of the two directions)."

OPTIONS = (
    Option("source", path, required=True, metavar="FILE", help="CoNLL file with the source tokens and gold tags"),
    Option("target", path, required=True, metavar="FILE",
           help="CoNLL file, sentence k = translation of source sentence k"),
    Option("limit", integer(min=1), metavar="N", help="only the first N sentence pairs"),
    Option("direction", choice(*DIRECTIONS), "forward",
           help="forward: --source labels onto --target; reverse: --target labels onto --source "
                "(scored against --source gold); both: each, one alignment, last line their mean"),
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
        if aligner.layer == "auto":
            _choose_layer(aligner, pairs, rules, o.direction)
        alignments = aligner.align([(p[0], p[2]) for p in pairs])
    except (OSError, ValueError) as e:
        raise UsageError(f"--align-model {o.align_model}: cannot align with it: {e}") from None
    t_align = time.time() - t0
    print(f"pairs={len(pairs)} aligner={type(aligner).__name__} model={o.align_model} layer={aligner.layer} "
          f"method={o.align_method} gap={rules.gap} trim={rules.trim} derived_type={rules.derived_type} "
          f"edge_outside={rules.edge_outside} edge_ratio={rules.edge_ratio} direction={o.direction}")
    print(f"align_seconds={t_align:.1f} pairs_per_second={len(pairs) / max(t_align, 1e-9):.1f}")
    f1s = []
    if o.direction in ("forward", "both"):
        f1s.append(_report("forward", projection_scores(pairs, alignments, rules), o.direction == "both"))
    if o.direction in ("reverse", "both"):
        # Every method links symmetrically (each is the same on the transposed
        # similarities), so the reverse projection reads the same links turned round.
        rev_pairs = [(tt, tl, st, sl) for st, sl, tt, tl in pairs]
        f1s.append(_report("reverse", projection_scores(rev_pairs, [_reversed(a) for a in alignments], rules),
                           o.direction == "both"))
    print(f"F1={sum(f1s) / len(f1s):.4f}")
    sys.stdout.flush()
    return 0


def _choose_layer(aligner, pairs, rules, direction) -> None:
    """--align-layer auto: the layer whose projection of the labels comes back
    intact on a round trip (no target gold used), on the first AUTO_SAMPLE pairs."""
    from xlaug.transforms.align import AUTO_SAMPLE
    from xlaug.transforms.project_choice import roundtrip_by_layer
    sample = pairs[:AUTO_SAMPLE]
    if direction == "reverse":
        items = [(p[2], p[3], p[0]) for p in sample]
    else:  # forward, and both: the source labels are what a run would have
        items = [(p[0], p[1], p[2]) for p in sample]
    scores = roundtrip_by_layer(aligner, items, rules)
    layer = max(scores, key=lambda k: (scores[k], -k))
    print("layer auto (round trip): " + " ".join(f"{k}:{v:.4f}" for k, v in scores.items()))
    print(f"layer auto: chose layer {layer}")
    aligner.set_layer(layer)


def _reversed(a):
    from dataclasses import replace
    order = sorted(range(len(a.links)), key=lambda k: (a.links[k][1], a.links[k][0]))
    return replace(a, links=tuple((a.links[k][1], a.links[k][0]) for k in order),
                   scores=tuple(a.scores[k] for k in order) if a.scores else a.scores)


def _report(direction: str, r: dict, tagged: bool) -> float:
    tag = f"{direction}: " if tagged else ""
    print(f"{tag}align_failed={r['align_failed']}")
    print(f"{tag}source spans: " + " ".join(f"{k}={v}" for k, v in r["status"].items()))
    print(f"{tag}{'type':<8}{'P':>8}{'R':>8}{'F1':>8}{'gold':>7}{'pred':>7}")
    for typ, s in r["per_type"].items():
        print(f"{tag}{typ:<8}{s['precision']:8.3f}{s['recall']:8.3f}{s['f1']:8.3f}{s['gold']:7d}{s['pred']:7d}")
    print(f"{tag}{'all':<8}{r['precision']:8.3f}{r['recall']:8.3f}{r['f1']:8.3f}{r['gold']:7d}{r['pred']:7d}")
    print(f"{tag}P={r['precision']:.4f} R={r['recall']:.4f}")
    if tagged:
        print(f"F1_{direction}={r['f1']:.4f}")
    return r["f1"]
