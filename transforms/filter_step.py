"""The filter stage: every filter scores every record, then the thresholds
decide.  Scores stay on the record, kept or rejected, so the report can show
their distributions."""
from __future__ import annotations

from typing import Iterable

from xlaug.transforms.filters import Filter, build_filters
from xlaug.transforms.record import Record, Rejected
from xlaug.transforms.stage import Step


class FilterStep(Step):
    """Scores every record with every filter (scores stay on the record),
    then decides.  A record failing any filter becomes
    ``Rejected(stage="filter", reason=<first failure>, detail=<all failures>)``;
    an empty side gives ``empty_text`` before any scoring."""

    name = "filter"

    def __init__(self, filters: list[Filter] | None = None, batch_size: int = 256):
        self.filters = build_filters() if filters is None else list(filters)
        self.batch_size = batch_size
        # langid scores a batch in lock-step: small batches waste that.
        self.min_batch_size = max(1, batch_size // 2)
        self.score_ranges = {}
        self.thresholds = {}
        self.score_units = {}
        for f in self.filters:
            self.score_units.update(f.score_units)
            self.score_ranges.update(f.score_ranges)
            self.thresholds.update(f.thresholds)

    def setup(self) -> None:
        for f in self.filters:
            f.setup()

    def process(self, record: Record) -> Iterable[Record | Rejected]:
        return self.process_batch([record])

    def process_batch(self, records: list[Record], context=None, model=None) -> Iterable[Record | Rejected]:
        todo = []
        for record in records:
            empty = _empty_side(record)
            if empty:
                yield Rejected.of(record, self.name, "empty_text", f"{empty} side is empty")
            else:
                todo.append(record)
        if not todo:
            return
        per_filter = [f.score_batch(todo) for f in self.filters]
        for i, record in enumerate(todo):
            new = {}
            for scores in per_filter:
                new.update(scores[i])
            if new:
                record = record.with_scores(**new)
            fails = [fail for f in self.filters for fail in f.failures(record.scores)]
            if fails:
                detail = "; ".join(f"{reason}: {text}" for reason, text in fails)
                yield Rejected.of(record, self.name, fails[0][0], detail)
            else:
                yield record


def _empty_side(record: Record) -> str | None:
    src = record.text("src")
    if src is None or not src.strip():
        return "src"
    tgt = record.text("tgt")
    if tgt is not None and not tgt.strip():
        return "tgt"
    return None

