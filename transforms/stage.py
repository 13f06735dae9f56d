"""The stage contract: every stage is a ``Step``, and nothing else.

A Step declares
  name            used in rejections and the report
  score_ranges    scores it adds -> (low, high), the report's histogram range
  thresholds      score -> (op, value), its decisions, drawn on the histograms
  score_units     score -> the unit it counts in, where that is a choice (the report says it)
and has a plain-Python core that knows nothing about Beam:
  setup()                               once per worker process (tables, tokenizers)
  process(record)                       -> Record and Rejected items, for one record
  process_batch(records, context, model) -> the same for several (default: ``process`` each)
  run(records)                          the plain-Python driver

How records reach the core is declared too, and both drivers follow it:
``run`` here and ``xlaug.transforms.apply.ApplyStep``, the one Beam wrapper
(a PTransform with two outputs, kept and rejected).
  batch_size, min_batch_size   records per process_batch call (1: ``process`` per record)
  batch_weight, weight(r)      length bucketing: records sorted by weight, each batch
                               within batch_size records and batch_weight total weight
  grouped, group_key(r)        records sharing a key come to process_batch together (dedup)
  summary, make_context(v)     a statistic of the whole input (a ``Summary``: a combiner of
                               plain values), turned into the ``context`` every
                               process_batch call gets (sampling's table, the aligner's layer)
  report_key                   the context also goes into the report under this key

A ``ModelStep`` also declares ``model_spec()`` and ``load_model()``: the
drivers load the model once per worker process (Beam: through our ModelHandler
and RunInference, xlaug.transforms.apply) and pass it as ``model``.
"""
from __future__ import annotations

import heapq
import json
from typing import Any, Callable, Iterable, Iterator

from xlaug.transforms.record import Record, Rejected

REJECTED = "rejected"
# Records held at once by the plain driver's length bucketing (Beam's
# SortAndBatchElements holds one bundle).
SORT_WINDOW = 10_000


class Summary:
    """A statistic of the whole input as a combiner of plain Python values:
    ``create() -> acc``, ``add(acc, record) -> acc``, ``merge(accs) -> acc``,
    ``result(acc) -> value``.  Beam runs it as a CombineFn; ``run`` in a loop."""

    def create(self):
        raise NotImplementedError

    def add(self, acc, record: Record):
        raise NotImplementedError

    def merge(self, accs: Iterable):
        raise NotImplementedError

    def result(self, acc):
        return acc

    def of(self, records: Iterable[Record]):
        acc = self.create()
        for record in records:
            acc = self.add(acc, record)
        return self.result(acc)


class CountBy(Summary):
    """``{key(record): count}``."""

    def __init__(self, key: Callable[[Record], Any]):
        self.key = key

    def create(self):
        return {}

    def add(self, acc, record):
        k = self.key(record)
        acc[k] = acc.get(k, 0) + 1
        return acc

    def merge(self, accs):
        out: dict = {}
        for acc in accs:
            for k, n in acc.items():
                out[k] = out.get(k, 0) + n
        return out


class SmallestBy(Summary):
    """The ``n`` records with the smallest ``key(record)`` (ties by id), in that
    order: a sample that depends on the data only, never on arrival order."""

    def __init__(self, n: int, key: Callable[[Record], Any]):
        self.n, self.key = int(n), key

    def create(self):
        return []

    def _trim(self, acc):
        return heapq.nsmallest(self.n, acc, key=lambda kr: (kr[0], kr[1].id))

    def add(self, acc, record):
        acc.append((self.key(record), record))
        return self._trim(acc) if len(acc) > 2 * self.n else acc

    def merge(self, accs):
        return self._trim([kr for acc in accs for kr in acc])

    def result(self, acc):
        return [r for _, r in self._trim(acc)]


class Step:
    """A stage.  See the module docstring for the contract."""

    name = "step"
    score_ranges: dict = {}
    thresholds: dict = {}
    score_units: dict = {}
    batch_size = 1
    min_batch_size = 1
    batch_weight: int | None = None
    grouped = False
    group_values = False  # grouped: decides from group_value/verdicts (see below)
    summary: Summary | None = None
    report_key: str | None = None

    def setup(self) -> None:
        """Load tables or tokenizers; called once per worker before any record."""

    def process(self, record: Record) -> Iterable[Record | Rejected]:
        raise NotImplementedError

    def process_batch(self, records: list[Record], context=None, model=None) -> Iterable[Record | Rejected]:
        for record in records:
            yield from self.process(record)

    def weight(self, record: Record) -> int:
        """Cost of a record for length bucketing (with ``batch_weight``)."""
        return 1

    def group_key(self, record: Record):
        """The group of a record (with ``grouped``): bytes, str or int."""
        raise NotImplementedError

    def group_value(self, record: Record):
        """(with ``group_values``) The little a group needs of a record to
        decide, far smaller than the record (dedup: its id and a digest)."""
        raise NotImplementedError

    def verdicts(self, values) -> Iterable[tuple[str, tuple[str, str]]]:
        """(with ``group_values``) The group's decision from its values:
        ``(record id, (reason, detail))`` for each record to reject; the
        others are kept as they are.  Must match ``process_batch`` on the
        group's records."""
        raise NotImplementedError

    def make_context(self, summary_value, model=None):
        """The context every process_batch call gets (with ``summary``)."""
        return summary_value

    # -- how records are cut into calls (shared by both drivers) ----------
    @property
    def per_record(self) -> bool:
        """True when each record is processed alone with ``process``."""
        return (self.batch_size <= 1 and not self.grouped and self.batch_weight is None
                and self.summary is None)

    def batches(self, records: Iterable[Record]) -> Iterator[list[Record]]:
        """The plain driver's batches, cut as the Beam wrapper cuts them."""
        if self.grouped:
            groups: dict = {}
            for record in records:
                groups.setdefault(self.group_key(record), []).append(record)
            yield from groups.values()
        elif self.batch_weight is not None:
            window: list[Record] = []
            for record in records:
                window.append(record)
                if len(window) >= SORT_WINDOW:
                    yield from sort_and_batch(window, [self.weight(r) for r in window],
                                              self.batch_size, self.batch_weight)
                    window = []
            if window:
                yield from sort_and_batch(window, [self.weight(r) for r in window],
                                          self.batch_size, self.batch_weight)
        else:
            size = max(1, self.batch_size)
            batch: list[Record] = []
            for record in records:
                batch.append(record)
                if len(batch) >= size:
                    yield batch
                    batch = []
            if batch:
                yield batch

    # -- the plain-Python driver --------------------------------------------
    def run(self, records: Iterable[Record]) -> Iterator[Record | Rejected]:
        """Process ``records`` without Beam: setup once, then the core, in the
        batches, groups and context the Beam wrapper would use."""
        self.setup()
        model = self.shared_model() if isinstance(self, ModelStep) else None
        if self.per_record:
            for record in records:
                yield from self.process(record)
            return
        context = None
        if self.summary is not None:
            records = list(records)  # two passes: the statistic, then the records
            context = self.make_context(self.summary.of(records), model)
        for batch in self.batches(records):
            yield from self.process_batch(batch, context, model)

    def split(self, records: Iterable[Record]) -> tuple[list[Record], list[Rejected]]:
        """``run`` as two lists: (kept, rejected)."""
        kept, rejected = [], []
        for item in self.run(records):
            (rejected if isinstance(item, Rejected) else kept).append(item)
        return kept, rejected


class ModelStep(Step):
    """A stage with a model.  ``load_model()`` returns it (an object whose
    methods the core calls: behind Beam's ``large_model`` proxy only method
    calls work); ``model_spec()`` is everything that decides which model is
    loaded, so stages asking for the same one share a single copy per process.

    threads:     torch CPU threads of the worker process (None: leave torch's choice).
    large_model: one copy per machine shared by its worker processes (Beam only).
    """

    threads: int | None = None
    large_model = False
    per_record = False  # the model comes with process_batch only

    def model_spec(self) -> dict:
        raise NotImplementedError

    def load_model(self):
        raise NotImplementedError

    def model_key(self) -> tuple:
        spec = json.dumps(self.model_spec(), sort_keys=True, default=str)
        return (type(self).__module__, type(self).__qualname__, spec)

    def shared_model(self):
        """This process's copy of the model (loaded on first use)."""
        from xlaug.transforms.worker import shared_model
        return shared_model(self.model_key(), self.load_model, self.threads)


def sort_and_batch(items: list, weights: list[int], max_size: int, max_weight: int) -> Iterator[list]:
    """Sort by weight, then cut batches of at most ``max_size`` items whose
    weights stay under ``max_weight`` (Beam's SortAndBatchElements rule)."""
    batch: list = []
    total = 0
    for i in sorted(range(len(items)), key=lambda k: weights[k]):
        w = weights[i]
        if batch and (len(batch) >= max_size or total + w >= max_weight):
            yield batch
            batch, total = [], 0
        batch.append(items[i])
        total += w
    if batch:
        yield batch


def check_steps(steps: list) -> None:
    """What one pipeline of steps must satisfy: each a Step, unique names,
    and model stages agreeing on torch's threads (a per-process setting)."""
    from xlaug.transforms.errors import UsageError
    for s in steps:
        if not isinstance(s, Step):
            raise UsageError(f"not a stage (xlaug.transforms.stage.Step): {s!r}")
    names = [s.name for s in steps]
    if len(set(names)) != len(names):
        raise UsageError(f"stage names must be unique, got {names}")
    asked = {s.name: int(s.threads) for s in steps if isinstance(s, ModelStep) and s.threads}
    if len(set(asked.values())) > 1:
        raise UsageError("model stages ask for different torch thread counts ("
                         + ", ".join(f"{n}: {t}" for n, t in asked.items())
                         + "); threads are set once per worker process: give them one value")
