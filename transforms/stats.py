"""Counts and score distributions, computed inside the pipeline with Beam
combiners (never a whole-corpus list), written as one small JSON file that
the report is built from."""
from __future__ import annotations

import json
import math

import apache_beam as beam

BINS = 40


class ScoreSummary(beam.CombineFn):
    """count/mean/min/max and, for scores with a declared range, a fixed-bin
    histogram (values outside the range are counted as under/over)."""

    def __init__(self, ranges: dict):
        self.ranges = dict(ranges)

    def create_accumulator(self):
        return {}

    def add_input(self, acc, record):
        ranges = self.ranges
        for name, value in record.scores.items():
            if value is None or value != value:  # None or NaN
                continue
            a = acc.get(name)
            if a is None:
                a = acc[name] = [0, 0.0, math.inf, -math.inf, [0] * BINS, 0, 0]
            a[0] += 1
            a[1] += value
            if value < a[2]:
                a[2] = value
            if value > a[3]:
                a[3] = value
            rng = ranges.get(name)
            if rng:
                lo, hi = rng
                if value < lo:
                    a[5] += 1
                elif value > hi:
                    a[6] += 1
                else:
                    a[4][min(BINS - 1, int((value - lo) / (hi - lo) * BINS)) if hi > lo else 0] += 1
        return acc

    def merge_accumulators(self, accs):
        out = {}
        for acc in accs:
            for name, a in acc.items():
                b = out.get(name)
                if b is None:
                    out[name] = [a[0], a[1], a[2], a[3], list(a[4]), a[5], a[6]]
                    continue
                b[0] += a[0]; b[1] += a[1]; b[2] = min(b[2], a[2]); b[3] = max(b[3], a[3])
                b[4] = [x + y for x, y in zip(b[4], a[4])]; b[5] += a[5]; b[6] += a[6]
        return out

    def extract_output(self, acc):
        return acc  # merged and finished by _merge_summaries

    def finish(self, acc):
        out = {}
        for name, (n, total, lo, hi, bins, under, over) in sorted(acc.items()):
            entry = {"count": n, "mean": total / n if n else None,
                     "min": lo if n else None, "max": hi if n else None}
            rng = self.ranges.get(name)
            if rng:
                entry["histogram"] = {"range": list(rng), "counts": bins, "under": under, "over": over}
            out[name] = entry
        return out


class CollectStats(beam.PTransform):
    """(final kept, all rejected, split counts, ledger) -> one JSON file
    ``{counts: [[stage, "rejected", reason, n]], scores: {...}, splits: {...},
    ledger: {stage: summary}}``; records per stage come from the ledger
    (``transforms.ledger.account``), which counts them anyway."""

    def __init__(self, path: str, stages: list, score_ranges: dict):
        super().__init__(label="stats")
        self.path = path
        self.stages = stages            # [(name, StageOutput)]
        self.score_ranges = score_ranges

    def expand(self, pcolls):
        final_kept, all_rejected, split_counts, ledger = pcolls
        counts = []
        for name, out in self.stages:
            counts.append(out.rejected | f"rej {name}" >> beam.Map(lambda r: r.reason)
                          | f"rej count {name}" >> beam.combiners.Count.PerElement()
                          | f"rej tag {name}" >> beam.MapTuple(
                              lambda reason, n, s=name: ("count", [s, "rejected", reason, n])))
        counts = counts | "Counts" >> beam.Flatten()
        # Summaries of kept and of rejected records are combined apart and
        # merged after: a Flatten of the whole corpus would be materialised.
        summary = ScoreSummary(self.score_ranges)
        parts = (
            final_kept | "Kept summary" >> beam.CombineGlobally(summary),
            all_rejected | "Rejected records" >> beam.FlatMap(
                lambda r: [r.record] if r.record is not None else [])
            | "Rejected summary" >> beam.CombineGlobally(summary))
        scored = (parts | "Summaries" >> beam.Flatten()
                  | "Merge" >> beam.combiners.ToList()
                  | "Score tag" >> beam.Map(lambda accs: ("scores", _merge_summaries(accs, summary))))
        splits = split_counts | "Split tag" >> beam.Map(lambda kv: ("split", list(kv)))
        books = ledger | "Ledger tag" >> beam.Map(lambda d: ("ledger", d))
        from apache_beam.io import WriteToText
        return ((counts, scored, splits, books) | "All" >> beam.Flatten()
                | "Gather" >> beam.combiners.ToList()
                | "Json" >> beam.Map(_stats_json)
                | "Write" >> WriteToText(self.path, num_shards=1, shard_name_template=""))


def _merge_summaries(accs, summary: ScoreSummary) -> dict:
    return summary.finish(summary.merge_accumulators(accs))


def _stats_json(items) -> str:
    out = {"counts": [], "scores": {}, "splits": {}, "ledger": {}}
    for tag, value in items:
        if tag == "count":
            out["counts"].append(value)
        elif tag == "scores":
            out["scores"].update(value)
        elif tag == "ledger":
            out["ledger"] = value
        else:
            out["splits"][value[0]] = value[1]
    out["counts"].sort()
    return json.dumps(out, sort_keys=True)
