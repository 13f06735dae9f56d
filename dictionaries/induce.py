"""Lexicon induction from word-aligned parallel text (what `xlaug dict induce` runs).

    read_pairs(path, fmt, target)    (loc, src, tgt, links or None) through the pipeline's readers
    count_links(pairs, alignments)   how often each word pair is linked
    select_entries(...)              the pairs worth a lexicon entry
    induce(items, aligner, ...)      align what has no links yet, count, select
    write_lexicon(path, entries, header)

Counting skips punctuation and numbers; an entry needs ``min_count`` links
and p(tgt | src) = links(src, tgt) / links(src) >= ``min_prob``.
Plain batched Python: no Beam needed for a lexicon.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable


FORMATS = ("auto", "tsv", "pipes", "conll-pair", "jsonl")


def read_pairs(path: str, fmt: str = "auto", target: str | None = None, limit: int | None = None):
    """Yield (loc, src_tokens, tgt_tokens, links or None) through the
    pipeline's readers; malformed input raises UsageError(file:line: problem)."""
    import os

    from xlaug.transforms.errors import UsageError
    from xlaug.transforms.readers import InputError, InputSpec, guess_format, read_strict
    for f in (path, target):
        if f is not None and not os.path.isfile(f):
            raise UsageError(f"{f}: file not found")
    if fmt == "conll-pair" and not target:
        raise UsageError("--format conll-pair needs --target TGT.conll")
    formats = {"tsv": "tsv", "pipes": "tsv", "conll-pair": "conll", "jsonl": "jsonl"}
    reader_fmt = guess_format(path, target) if fmt == "auto" else formats[fmt]
    if reader_fmt == "text":  # a lexicon needs pairs: a line without a separator is an error
        reader_fmt = "tsv"
    spec = InputSpec(reader_fmt, path, target=target, tag_scheme="any", limit=limit,
                     target_format="conll" if reader_fmt == "conll" else None)
    try:
        for r in read_strict(spec):
            src, tgt = r.tokens("src"), r.tokens("tgt")
            if not src or not tgt:
                raise UsageError(f"{r.loc}: record {r.id} is not a pair (needs src and tgt tokens)")
            yield r.loc, list(src), list(tgt), (tuple(r.alignment) if r.alignment else None)
    except InputError as e:
        raise UsageError(str(e)) from None


def count_links(pairs, alignments, lowercase: bool = True):
    """pair_counts[(s, t)], src_counts[s] (links per source word) and
    forms[t]: the spellings seen of each (lowercased) target word, so the
    lexicon can write the usual one (German nouns keep their capital)."""
    from xlaug.transforms.mixing import is_neutral
    pair_counts, src_counts, forms = Counter(), Counter(), {}
    for (src, tgt), links in zip(pairs, alignments):
        for i, j in links:
            s, t = src[i], tgt[j]
            if is_neutral(s) or is_neutral(t):
                continue
            surface = t
            if lowercase:
                s, t = s.lower(), t.lower()
            forms.setdefault(t, Counter())[surface] += 1
            pair_counts[(s, t)] += 1
            src_counts[s] += 1
    return pair_counts, src_counts, forms


def select_entries(pair_counts, src_counts, min_count: int, min_prob: float, max_per_src: int,
                   forms=None):
    """[(src, tgt, count)] sorted by src, then count (desc), then tgt; tgt
    written in its most frequent spelling when ``forms`` is given."""
    by_src: dict[str, list[tuple[int, str]]] = {}
    for (s, t), c in pair_counts.items():
        if c >= min_count and c / src_counts[s] >= min_prob:
            by_src.setdefault(s, []).append((c, t))
    out = []
    for s in sorted(by_src):
        for c, t in sorted(by_src[s], key=lambda x: (-x[0], x[1]))[:max_per_src]:
            if forms and t in forms:
                t = min(forms[t].items(), key=lambda f: (-f[1], f[0]))[0]
            out.append((s, t, c))
    return out


@dataclass
class Induced:
    entries: list = field(default_factory=list)   # [(src, tgt, count)]
    pairs: int = 0                                # pairs counted
    failed: int = 0                               # pairs the aligner could not align
    links: int = 0                                # word links counted


def induce(items: Iterable, aligner, *, min_count: int = 2, min_prob: float = 0.1, max_per_src: int = 5,
           lowercase: bool = True, batch_size: int = 32,
           on_aligned: Callable | None = None, on_failed: Callable | None = None) -> Induced:
    """items: (loc, src_tokens, tgt_tokens, links or None); pairs without
    links are aligned ``batch_size`` at a time with ``aligner.align(pairs)``
    (a transforms.align.WordAligner).  ``on_aligned(loc, src, tgt, links)``
    sees each newly aligned pair, ``on_failed(loc, alignment)`` each failure."""
    if min_count < 1 or max_per_src < 1 or batch_size < 1 or not 0.0 <= min_prob <= 1.0:
        raise ValueError("min_count, max_per_src and batch_size must be >= 1, min_prob in [0, 1]")
    pairs, alignments, failed = [], [], 0
    batch: list = []

    def flush():
        nonlocal failed
        for (loc, src, tgt), a in zip(batch, aligner.align([(s, t) for _, s, t in batch])):
            if a.error:
                failed += 1
                if on_failed:
                    on_failed(loc, a)
                continue
            pairs.append((src, tgt))
            alignments.append(a.links)
            if on_aligned:
                on_aligned(loc, src, tgt, a.links)
        batch.clear()

    for loc, src, tgt, links in items:
        if links is not None:  # already aligned: counted as it is
            pairs.append((src, tgt))
            alignments.append(links)
            continue
        batch.append((loc, src, tgt))
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    pair_counts, src_counts, forms = count_links(pairs, alignments, lowercase=lowercase)
    entries = select_entries(pair_counts, src_counts, min_count, min_prob, max_per_src, forms)
    return Induced(entries=entries, pairs=len(pairs), failed=failed, links=sum(pair_counts.values()))


def write_lexicon(path: str, entries, header: Iterable[str] = ()) -> None:
    """``src<TAB>tgt<TAB>weight`` lines under ``# header`` lines (what load_lexicon reads)."""
    import os
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for line in header:
            f.write(f"# {line}\n")
        for s, t, c in entries:
            f.write(f"{s}\t{t}\t{c}\n")
