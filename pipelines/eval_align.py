"""``xlaug eval align``: alignment error rate against gold links.

Pairs: one ``source ||| target`` a line, pre-tokenized (whitespace).
Gold: one line per pair, links ``i-j`` (sure) and ``ipj`` (possible),
1-indexed, source first (the format of ../shared/data/alignment).
"""
from __future__ import annotations

import re
import sys
import time

HELP = "word-alignment precision, recall and AER against gold links"
DESCRIPTION = (HELP + ". Reads 'src ||| tgt' pairs and gold links ('i-j' sure, 'ipj' possible, "
               "1-indexed); the last line printed is AER=<value>.")

_LINK = re.compile(r"^(\d+)([-p])(\d+)$")


def aer(pred_links, sure, possible) -> tuple[float, float, float]:
    """(precision, recall, AER) of predicted links against sure and possible
    links (any hashable (i, j) pairs; sure links count as possible too).
    Several sentences: pass links tagged with the sentence, e.g. (k, i, j)."""
    pred, sure = set(pred_links), set(sure)
    possible = set(possible) | sure
    a_s, a_p = len(pred & sure), len(pred & possible)
    precision = a_p / len(pred) if pred else 0.0
    recall = a_s / len(sure) if sure else 0.0
    denom = len(pred) + len(sure)
    return precision, recall, (1.0 - (a_s + a_p) / denom) if denom else 0.0


def read_pairs(path: str) -> list[tuple[list[str], list[str]]]:
    from xlaug.pipelines.cli import CliError
    pairs = []
    for lineno, line in enumerate(_open(path), 1):
        parts = line.rstrip("\n").split(" ||| ") if " ||| " in line else line.rstrip("\n").split("|||")
        if len(parts) != 2:
            raise CliError(f"{path}:{lineno}: expected 'source ||| target', found "
                           f"{len(parts) - 1} '|||' separators")
        src, tgt = parts[0].split(), parts[1].split()
        if not src or not tgt:
            raise CliError(f"{path}:{lineno}: the {'source' if not src else 'target'} side is empty")
        pairs.append((src, tgt))
    return pairs


def read_gold(path: str, pairs=None) -> list[tuple[set, set]]:
    """[(sure, possible)] with 0-based (i, j); checked against ``pairs`` lengths when given."""
    from xlaug.pipelines.cli import CliError
    gold = []
    for lineno, line in enumerate(_open(path), 1):
        sure, possible = set(), set()
        for item in line.split():
            match = _LINK.match(item)
            if not match or int(match.group(1)) < 1 or int(match.group(3)) < 1:
                raise CliError(f"{path}:{lineno}: bad link {item!r}: expected 'i-j' or 'ipj' "
                               "with 1-indexed word positions")
            i, j = int(match.group(1)) - 1, int(match.group(3)) - 1
            if pairs is not None and lineno <= len(pairs):
                src, tgt = pairs[lineno - 1]
                if i >= len(src) or j >= len(tgt):
                    raise CliError(f"{path}:{lineno}: link {item!r} is outside the pair "
                                   f"({len(src)} source, {len(tgt)} target words)")
            (sure if match.group(2) == "-" else possible).add((i, j))
        gold.append((sure, possible))
    if pairs is not None and len(gold) != len(pairs):
        raise CliError(f"{path}: {len(gold)} gold lines but {len(pairs)} pairs: "
                       "the files must have one line per pair")
    return gold


def corpus_aer(alignments, gold) -> tuple[float, float, float]:
    pred, sure, possible = set(), set(), set()
    for k, (links, (s, p)) in enumerate(zip(alignments, gold)):
        pred.update((k, i, j) for i, j in links)
        sure.update((k, i, j) for i, j in s)
        possible.update((k, i, j) for i, j in p)
    return aer(pred, sure, possible)


def _open(path: str):
    from xlaug.pipelines.cli import CliError
    try:
        with open(path, encoding="utf-8") as f:
            return f.readlines()
    except OSError as e:
        raise CliError(f"{path}: cannot read: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise CliError(f"{path}: not UTF-8 text (byte {e.start})") from None


def add_arguments(parser) -> None:
    from xlaug.pipelines.align_args import add_align_arguments
    parser.add_argument("--pairs", required=True, help="'source ||| target' pairs, one a line")
    parser.add_argument("--gold", required=True, help="gold links, 1-indexed 'i-j' (sure) / 'ipj' (possible)")
    add_align_arguments(parser, model_flag="--model", required=True, batch_flag="--batch-size")


def main(args) -> int:
    from xlaug.pipelines.align_args import aligner_kwargs_from_args
    from xlaug.pipelines.cli import CliError

    pairs = read_pairs(args.pairs)
    gold = read_gold(args.gold, pairs)
    kwargs = aligner_kwargs_from_args(args)
    from xlaug.transforms.align import WordAligner
    from xlaug.transforms.models import require_model
    require_model(args.align_model, "--model")
    try:
        aligner = WordAligner(args.align_model, **kwargs)
    except (OSError, ValueError) as e:
        raise CliError(f"--model {args.align_model}: {str(e).splitlines()[0]}") from None
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
        print(f"{args.pairs}:{k + 1}: not aligned ({r.error}): {r.detail}", file=sys.stderr)
    precision, recall, rate = corpus_aer([r.links for r in results], gold)
    print(f"model={args.align_model} layer={aligner.layer} method={aligner.method} pairs={len(pairs)} "
          f"unaligned={len(errors)} seconds={seconds:.2f}")
    print(f"precision={precision:.4f}")
    print(f"recall={recall:.4f}")
    print(f"AER={rate:.4f}")
    return 0
