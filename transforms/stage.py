"""How a stage is shaped: a pure core (``Step``) and its Beam wrapper.

A ``Step`` knows nothing about Beam: ``process`` takes a record and yields
records and ``Rejected`` values, so it can be tested and reused alone.
``ApplyStep`` runs a step on a PCollection and splits its output into kept
records and rejections.  Stages that need a global view (dedup, sampling)
are PTransforms of their own that return the same ``StageOutput``.
"""
from __future__ import annotations

from typing import Iterable, Iterator, NamedTuple

import apache_beam as beam

from xlaug.transforms.record import Record, Rejected

REJECTED = "rejected"


class Step:
    """Pure core of a stage.

    name:          stage name, used in rejections and the report.
    score_ranges:  scores this step adds -> (low, high), the report's histogram range.
    thresholds:    score -> (op, value) decisions, drawn on the histograms.
    batch_size:    >1 makes the wrapper call ``process_batch`` with up to this many.
    """

    name = "step"
    score_ranges: dict = {}
    thresholds: dict = {}
    batch_size = 1

    def setup(self) -> None:
        """Load models or tables; called once per worker before any record."""

    def process(self, record: Record) -> Iterable[Record | Rejected]:
        raise NotImplementedError

    def process_batch(self, records: list[Record]) -> Iterable[Record | Rejected]:
        for record in records:
            yield from self.process(record)

    def run(self, records: Iterable[Record]) -> Iterator[Record | Rejected]:
        """Plain-Python driver (tests, benchmarks): setup once, then process."""
        self.setup()
        if self.batch_size > 1:
            batch: list[Record] = []
            for record in records:
                batch.append(record)
                if len(batch) >= self.batch_size:
                    yield from self.process_batch(batch)
                    batch = []
            if batch:
                yield from self.process_batch(batch)
        else:
            for record in records:
                yield from self.process(record)


class StageOutput(NamedTuple):
    kept: beam.PCollection
    rejected: beam.PCollection


class _StepDoFn(beam.DoFn):
    def __init__(self, step: Step):
        self.step = step

    def setup(self):
        self.step.setup()

    def process(self, element):
        items = self.step.process_batch(element) if isinstance(element, list) \
            else self.step.process(element)
        for item in items:
            if isinstance(item, Rejected):
                yield beam.pvalue.TaggedOutput(REJECTED, item)
            else:
                yield item


class ApplyStep(beam.PTransform):
    """Run a ``Step`` over records; returns ``StageOutput(kept, rejected)``."""

    def __init__(self, step: Step):
        super().__init__(label=step.name)
        self.step = step
        self.name = step.name
        self.score_ranges = dict(step.score_ranges)
        self.thresholds = dict(step.thresholds)

    def expand(self, pcoll):
        if self.step.batch_size > 1:
            # A step may ask for full batches (min_batch_size): BatchElements
            # otherwise starts every bundle at 1 and grows slowly.
            pcoll = pcoll | "Batch" >> beam.BatchElements(
                min_batch_size=getattr(self.step, "min_batch_size", 1),
                max_batch_size=self.step.batch_size)
        outs = pcoll | "Process" >> beam.ParDo(_StepDoFn(self.step)).with_outputs(REJECTED, main="kept")
        return StageOutput(outs.kept, outs[REJECTED])


def stage_meta(stage) -> tuple[str, dict, dict]:
    """(name, score_ranges, thresholds) of any stage transform."""
    return (getattr(stage, "name", stage.label),
            dict(getattr(stage, "score_ranges", {}) or {}),
            dict(getattr(stage, "thresholds", {}) or {}))
