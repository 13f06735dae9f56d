"""Quality metrics that `xlaug eval ...`, the benchmarks and users' own code share.

    aer(pred, sure, possible)          precision, recall, AER of one link set
    corpus_aer(alignments, gold)       the same over a corpus (links of all pairs pooled)
    read_alignment_pairs(path)         'source ||| target' pairs, whitespace-tokenized
    read_alignment_gold(path, pairs)   gold links: 'i-j' sure, 'ipj' possible, 1-indexed
    span_prf(gold, pred)               span P/R/F1 (exact span + type), also per type
    projection_scores(...)             project gold source spans through links, score them

Bad files raise UsageError naming file:line and the problem.
"""
from __future__ import annotations

import re
from collections import Counter
from typing import Iterable, Sequence

from xlaug.transforms.errors import UsageError

_LINK = re.compile(r"^(\d+)([-p])(\d+)$")


# -- word alignment ------------------------------------------------------------------

def aer(pred_links, sure, possible) -> tuple[float, float, float]:
    """(precision, recall, AER) of predicted links against sure and possible
    links (any hashable (i, j) pairs; sure links count as possible too).
    Several sentences: pass links tagged with the sentence, e.g. (k, i, j).
    Undefined when there are neither predicted nor sure links: ValueError."""
    pred, sure = set(pred_links), set(sure)
    possible = set(possible) | sure
    if not pred and not sure:
        raise ValueError("AER is undefined with no predicted and no sure links")
    a_s, a_p = len(pred & sure), len(pred & possible)
    precision = a_p / len(pred) if pred else 0.0
    recall = a_s / len(sure) if sure else 0.0
    return precision, recall, 1.0 - (a_s + a_p) / (len(pred) + len(sure))


def corpus_aer(alignments, gold) -> tuple[float, float, float]:
    """AER over a corpus: ``alignments`` one link list per pair, ``gold`` one
    (sure, possible) per pair, as read_alignment_gold returns."""
    alignments, gold = list(alignments), list(gold)
    if len(alignments) != len(gold):
        raise ValueError(f"{len(alignments)} alignments for {len(gold)} gold pairs")
    pred, sure, possible = set(), set(), set()
    for k, (links, (s, p)) in enumerate(zip(alignments, gold)):
        pred.update((k, i, j) for i, j in links)
        sure.update((k, i, j) for i, j in s)
        possible.update((k, i, j) for i, j in p)
    return aer(pred, sure, possible)


def _lines(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as f:
            return f.readlines()
    except OSError as e:
        raise UsageError(f"{path}: cannot read: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise UsageError(f"{path}: not UTF-8 text (byte {e.start})") from None


def read_alignment_pairs(path: str) -> list[tuple[list[str], list[str]]]:
    """One 'source ||| target' pair a line, whitespace-tokenized; at least one pair."""
    pairs = []
    for lineno, line in enumerate(_lines(path), 1):
        line = line.rstrip("\n").lstrip("\ufeff") if lineno == 1 else line.rstrip("\n")
        parts = line.split(" ||| ") if " ||| " in line else line.split("|||")
        if len(parts) != 2:
            raise UsageError(f"{path}:{lineno}: expected 'source ||| target', found "
                             f"{len(parts) - 1} '|||' separators")
        src, tgt = parts[0].split(), parts[1].split()
        if not src or not tgt:
            raise UsageError(f"{path}:{lineno}: the {'source' if not src else 'target'} side is empty")
        pairs.append((src, tgt))
    if not pairs:
        raise UsageError(f"{path}: no pairs (empty file)")
    return pairs


def read_alignment_gold(path: str, pairs=None) -> list[tuple[set, set]]:
    """[(sure, possible)] with 0-based (i, j); checked against ``pairs`` lengths
    when given.  An empty file is an error."""
    gold = []
    for lineno, line in enumerate(_lines(path), 1):
        sure, possible = set(), set()
        for item in line.lstrip("\ufeff").split():
            match = _LINK.match(item)
            if not match or int(match.group(1)) < 1 or int(match.group(3)) < 1:
                raise UsageError(f"{path}:{lineno}: bad link {item!r}: expected 'i-j' or 'ipj' "
                                 "with 1-indexed word positions")
            i, j = int(match.group(1)) - 1, int(match.group(3)) - 1
            if pairs is not None and lineno <= len(pairs):
                src, tgt = pairs[lineno - 1]
                if i >= len(src) or j >= len(tgt):
                    raise UsageError(f"{path}:{lineno}: link {item!r} is outside the pair "
                                     f"({len(src)} source, {len(tgt)} target words)")
            (sure if match.group(2) == "-" else possible).add((i, j))
        gold.append((sure, possible))
    if pairs is not None and len(gold) != len(pairs):
        raise UsageError(f"{path}: {len(gold)} gold lines but {len(pairs)} pairs: "
                         "the files must have one line per pair")
    if not gold:
        raise UsageError(f"{path}: no gold lines (empty file)")
    return gold


# -- spans ------------------------------------------------------------------------------

def span_prf(gold: Iterable[Sequence[str]], pred: Iterable[Sequence[str]]) -> dict:
    """Span precision/recall/F1 with exact span + type match (seqeval's default
    reading of BIO: a stray I- opens a span).  Also per type."""
    from xlaug.transforms import bio
    tp: Counter = Counter()
    n_gold: Counter = Counter()
    n_pred: Counter = Counter()
    for g, p in zip(gold, pred):
        gs, ps = set(bio.spans(g)), set(bio.spans(p))
        for s in gs:
            n_gold[s[2]] += 1
        for s in ps:
            n_pred[s[2]] += 1
        for s in gs & ps:
            tp[s[2]] += 1

    def prf(t, g, p):
        prec = t / p if p else 0.0
        rec = t / g if g else 0.0
        f = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        return {"precision": prec, "recall": rec, "f1": f, "gold": g, "pred": p, "correct": t}

    out = prf(sum(tp.values()), sum(n_gold.values()), sum(n_pred.values()))
    out["per_type"] = {t: prf(tp[t], n_gold[t], n_pred[t]) for t in sorted(set(n_gold) | set(n_pred))}
    return out


def projection_scores(pairs, alignments, policy) -> dict:
    """Project each pair's gold source spans onto its target through its
    alignment and score them against the target's gold labels.

    pairs:       [(src_tokens, src_labels, tgt_tokens, tgt_labels)]
    alignments:  one transforms.align.Alignment per pair (error: predicts nothing)
    Returns span_prf's dict plus ``status`` (source spans by outcome) and
    ``align_failed`` (pairs without an alignment)."""
    from xlaug.transforms import bio
    from xlaug.transforms.project import project_spans
    gold, pred = [], []
    status = {"projected": 0, "missing": 0, "overlap": 0, "low_confidence": 0}
    failed = 0
    for (stoks, stags, ttoks, ttags), a in zip(pairs, alignments):
        gold.append(ttags)
        if a.error:
            failed += 1
            pred.append(["O"] * len(ttoks))
            continue
        labels, results = project_spans(bio.spans(stags), a.links, len(ttoks), a.scores, policy,
                                        ttoks, stoks)
        for r in results:
            status[r.status] += 1
        pred.append(labels)
    out = span_prf(gold, pred)
    out["status"], out["align_failed"] = status, failed
    return out
