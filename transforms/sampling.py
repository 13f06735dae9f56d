"""Exponential-smoothing sampling for multilingual corpora.

A language (or pair) i with n_i of N records has share p_i = n_i / N; the
target share is q_i ∝ n_i ** alpha (alpha = 1 keeps the corpus as it is,
alpha = 0 makes all languages equal, 0.3-0.7 is the usual range).  Sampling
here only *drops* records: language i is kept with probability
r_i = (q_i / p_i) / max_j (q_j / p_j), so the least over-represented language
keeps everything and the expected share after sampling is exactly q_i.

Each record's coin comes from the seeded hash of (seed, "sample", record id):
the same seed gives the same records on every runner and in every bundle
order, independently of the split the record lands in.
"""
from __future__ import annotations

from functools import partial

from xlaug.transforms.record import Record, Rejected
from xlaug.transforms.seeding import seeded_unit
from xlaug.transforms.stage import CountBy, Step

BY = ("pair", "src", "tgt")
UNKNOWN = "und"


def sample_key(record: Record, by: str = "pair") -> str:
    """The group a record is counted in: ``en-de`` (pair), ``en`` (src) or ``de`` (tgt)."""
    src = record.src_lang or UNKNOWN
    tgt = record.tgt_lang or UNKNOWN
    if by == "src":
        return src
    if by == "tgt":
        return tgt
    return f"{src}-{tgt}" if record.tgt_lang or record.is_parallel else src


def smoothed_shares(counts: dict, alpha: float) -> dict:
    """{key: n} -> {key: {"n", "share_before", "share_after", "keep_prob"}}.

    ``share_after`` is the expected share after sampling (= q_i)."""
    # Sorted first: sums run in one order whatever order the counts arrived in.
    counts = {k: int(n) for k, n in sorted(counts.items()) if n > 0}
    total = sum(counts.values())
    if not total:
        return {}
    weights = {k: n ** alpha for k, n in counts.items()}
    wsum = sum(weights.values())
    ratio = {k: (weights[k] / wsum) / (n / total) for k, n in counts.items()}
    top = max(ratio.values())
    return {k: {"n": n, "share_before": n / total, "share_after": weights[k] / wsum,
                "keep_prob": min(1.0, ratio[k] / top)}
            for k, n in sorted(counts.items())}


def coin(seed: int, record_id: str) -> float:
    """A uniform number in [0, 1) fixed by seed and id."""
    return seeded_unit(seed, "sample", record_id)


def decide(record: Record, table: dict, seed: int, by: str, stage: str = "sampling"):
    """The record itself, or a ``sampled_out`` Rejected."""
    key = sample_key(record, by)
    p = table[key]["keep_prob"] if key in table else 1.0
    if p >= 1.0 or coin(seed, record.id) < p:
        return record
    return Rejected.of(record, stage, "sampled_out",
                       f"{key}: keep probability {p:.3g} (alpha sampling)")


class Sampling(Step):
    """Down-sample to smoothed language shares.  Its summary counts records
    per language key over the whole input; the context is the table
    ``{key: {"n", "share_before", "share_after", "keep_prob"}}``
    (``share_after`` is the expected share), which the report shows under
    ``sampling``."""

    report_key = "sampling"

    def __init__(self, alpha: float, seed: int = 0, by: str = "pair", name: str = "sampling"):
        if alpha is None or float(alpha) < 0:
            raise ValueError(f"sampling alpha must be >= 0, got {alpha}")
        if by not in BY:
            raise ValueError(f"sampling by must be one of {', '.join(BY)}, got {by!r}")
        self.alpha, self.seed, self.by, self.name = float(alpha), int(seed), by, name
        self.summary = CountBy(partial(sample_key, by=by))

    def make_context(self, counts, model=None) -> dict:
        return smoothed_shares(counts, self.alpha)

    def process_batch(self, records, context=None, model=None):
        for record in records:
            yield decide(record, context, self.seed, self.by, self.name)
