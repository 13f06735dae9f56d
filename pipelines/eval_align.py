"""``xlaug eval align``: alignment error rate against gold links.

Pairs: one ``source ||| target`` a line, pre-tokenized (whitespace).
Gold: one line per pair, links ``i-j`` (sure) and ``ipj`` (possible),
1-indexed, source first (the format of ../shared/data/alignment).
The metric and the readers are library functions (xlaug.transforms.metrics).
"""
from __future__ import annotations

import sys
import time

from xlaug.pipelines.align_args import align_options
from xlaug.pipelines.options import Option, path

HELP = "word-alignment precision, recall and AER against gold links"
DESCRIPTION = (HELP + ". Reads 'src ||| tgt' pairs and gold links ('i-j' sure, 'ipj' possible, "
               "1-indexed); the last line printed is AER=<value>.")

OPTIONS = (
    Option("pairs", path, required=True, metavar="FILE", help="'source ||| target' pairs, one a line"),
    Option("gold", path, required=True, metavar="FILE",
           help="gold links, 1-indexed 'i-j' (sure) / 'ipj' (possible)"),
) + align_options("align", required=True,
                  old={"align-model": ("model",), "align-batch-size": ("batch-size",)})


def main(o) -> int:
    from xlaug.pipelines.align_args import aligner_kwargs, check_aligner
    from xlaug.transforms.errors import UsageError
    from xlaug.transforms.metrics import corpus_aer, read_alignment_gold, read_alignment_pairs

    pairs = read_alignment_pairs(o.pairs)
    gold = read_alignment_gold(o.gold, pairs)
    check_aligner(o)
    from xlaug.transforms.align import WordAligner
    try:
        aligner = WordAligner(o.align_model, **aligner_kwargs(o))
    except (OSError, ValueError) as e:
        raise UsageError(f"--align-model {o.align_model}: {str(e).splitlines()[0]}") from None
    if aligner.layer == "auto":
        layer, per_layer = aligner.choose_layer(pairs)
        print("layer auto: criterion per layer: " +
              " ".join(f"{k}:{v:.4f}" for k, v in per_layer.items()))
        print(f"layer auto: chose layer {layer}")
        aligner.set_layer(layer)
    start = time.perf_counter()
    results = aligner.align(pairs)
    seconds = time.perf_counter() - start
    errors = [(k, r) for k, r in enumerate(results) if r.error]
    for k, r in errors:
        print(f"{o.pairs}:{k + 1}: not aligned ({r.error}): {r.detail}", file=sys.stderr)
    try:
        precision, recall, rate = corpus_aer([r.links for r in results], gold)
    except ValueError as e:
        raise UsageError(f"{o.gold}: {e}") from None
    print(f"model={o.align_model} layer={aligner.layer} method={aligner.method} pairs={len(pairs)} "
          f"unaligned={len(errors)} seconds={seconds:.2f}")
    print(f"precision={precision:.4f}")
    print(f"recall={recall:.4f}")
    print(f"AER={rate:.4f}")
    return 0
