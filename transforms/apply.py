"""The one Beam wrapper: ``ApplyStep(step)`` turns any stage (a
``xlaug.transforms.stage.Step``) into a PTransform with two outputs,
``StageOutput(kept, rejected)``, following what the step declares:

  batching     per record; fixed-size ``BatchElements``; or, with
               ``batch_weight``, ``SortAndBatchElements`` by ``weight`` (length
               bucketing under a token budget)
  grouped      ``GroupByKey`` on ``group_key``; each group is one batch.  A step
               that decides from a small ``group_value`` (dedup: id + digest)
               groups only those on runners that hold groups in memory (through
               local files, with the records waiting in files beside them, per
               shard of keys), and rejects by id (``verdicts``): see ``_by_values``
  summary      ``CombineGlobally`` of the step's Summary, turned into the
               context by ``make_context`` and given to every batch as a side input
  model        a ModelStep runs through ``RunInference`` with ``StepModelHandler``
               (xlaug.transforms.inference): the model is loaded once per worker
               process and shared (xlaug.transforms.worker), batches are the ones cut above

Beam 2.77 notes: ``ModelHandler(max_batch_weight=...)`` is passed on to
``BatchElements``, which does not accept it, and ``batch_length_fn`` buckets
only on the stateful, time-bounded path; so batches are cut here and the
handler skips RunInference's own batching.
"""
from __future__ import annotations

from operator import itemgetter
from typing import Iterable, NamedTuple

import apache_beam as beam

from xlaug.transforms.record import Rejected, pack_record, unpack_record
from xlaug.transforms.stage import REJECTED, ModelStep, Step, Summary


class StageOutput(NamedTuple):
    kept: beam.PCollection
    rejected: beam.PCollection
    # The step's context (a one-element PCollection) when it declares a summary.
    context: beam.PCollection | None = None


def route(items: Iterable):
    """Records to the main output, ``Rejected`` to the ``rejected`` one."""
    for item in items:
        if isinstance(item, Rejected):
            yield beam.pvalue.TaggedOutput(REJECTED, item)
        else:
            yield item


class _Route(beam.DoFn):
    """The output items of a batch (a list: RunInference's one prediction per batch)."""

    def process(self, items):
        yield from route(items)


class _ProcessFn(beam.DoFn):
    def __init__(self, step: Step):
        self.step = step

    def setup(self):
        self.step.setup()

    def process(self, element, context=None):
        if isinstance(element, list):
            yield from route(self.step.process_batch(element, context))
        elif self.step.per_record:
            yield from route(self.step.process(element))
        else:  # one record at a time, with a context
            yield from route(self.step.process_batch([element], context))


class _WeighFn(beam.DoFn):
    """(weight, record) for length bucketing; the weight may need the step's tokenizer."""

    def __init__(self, step: Step):
        self.step = step

    def setup(self):
        self.step.setup()

    def process(self, record):
        yield self.step.weight(record), record


class _SummaryFn(beam.CombineFn):
    def __init__(self, summary: Summary):
        self.summary = summary

    def create_accumulator(self):
        return self.summary.create()

    def add_input(self, acc, record):
        return self.summary.add(acc, record)

    def merge_accumulators(self, accs):
        return self.summary.merge(accs)

    def extract_output(self, acc):
        return self.summary.result(acc)


class _ContextFn(beam.DoFn):
    def __init__(self, step: Step):
        self.step = step

    def setup(self):
        self.step.setup()

    def process(self, value):
        model = self.step.shared_model() if isinstance(self.step, ModelStep) else None
        yield self.step.make_context(value, model)


def _pack(step: Step):
    def keyed(record):
        return step.group_key(record), pack_record(record)
    return keyed


def _unpack_group(element) -> list:
    return [unpack_record(b) for b in element[1]]


def _with_context(batch, context=None):
    return batch, context


VALUE_SHARDS = 64  # groups of keys decided together (two files per shard and bundle)


class _SpillByShardFn(beam.DoFn):
    """Each record, and its (key, value), into local files: one pair of
    files per shard of keys and bundle; emits (shard, (values file, records
    file)) when the bundle ends.  Nothing per record reaches the driver,
    nor stays in this worker's memory."""

    def __init__(self, step: Step, folder: str):
        self.step, self.folder = step, folder

    def start_bundle(self):
        self._files: dict = {}

    def process(self, record):
        import pickle
        key = self.step.group_key(record)
        shard = _shard_of(key)
        files = self._files.get(shard)
        if files is None:
            import os
            import uuid
            name = uuid.uuid4().hex
            files = self._files[shard] = tuple(open(os.path.join(self.folder, f"{kind}{shard:03d}-{name}"), "wb")
                                               for kind in "vr")
        for f, item in zip(files, ((key, self.step.group_value(record)), record)):
            data = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
            f.write(len(data).to_bytes(4, "little") + data)

    def finish_bundle(self):
        from xlaug.transforms.spill import _in_global_window
        files, self._files = self._files, {}
        for shard, pair in sorted(files.items()):
            for f in pair:
                f.close()
            yield _in_global_window((shard, tuple(f.name for f in pair)))


def _shard_of(key) -> int:
    import zlib
    data = key if isinstance(key, bytes) else repr(key).encode("utf-8")
    return zlib.crc32(data) % VALUE_SHARDS


def _decide_shard(element, step: Step):
    """One shard of keys: its groups' verdicts from the values' files, then
    its records from theirs, each kept or rejected.  Only one shard's
    verdicts are in memory at a time, on the worker that decides it."""
    from xlaug.transforms.spill import unspill
    groups: dict = {}
    for values_file, _ in element[1]:
        for key, value in unspill(values_file):
            groups.setdefault(key, []).append(value)
    verdicts = {}
    for values in groups.values():
        verdicts.update(step.verdicts(values))
    del groups
    for _, records_file in element[1]:
        for record in unspill(records_file):
            verdict = verdicts.get(record.id)
            if verdict is None:
                yield record
            else:
                yield beam.pvalue.TaggedOutput(REJECTED, Rejected.of(record, step.name, *verdict))


class ApplyStep(beam.PTransform):
    """Run any ``Step`` on a PCollection of records; returns
    ``StageOutput(kept, rejected, context)``.  Labelled with the step's name.

    ``by_values``: for a step with ``group_values``, group only its small
    values and reject by id (True), or group whole records (False); None:
    by values on runners that hold groups in memory, where it keeps memory
    flat in the size of the corpus; whole records elsewhere, where a
    shuffle scales and the records need not wait in one machine's files."""

    def __init__(self, step: Step, by_values: bool | None = None):
        if not isinstance(step, Step):
            raise TypeError(f"ApplyStep needs a xlaug.transforms.stage.Step, got {type(step).__name__}")
        super().__init__(label=step.name)
        self.step = step
        self.by_values = by_values

    def _by_values(self, records):
        """Decide from the small values, with the records waiting in local
        files (transforms/spill.py) beside them, both cut into shards of
        keys: an in-memory runner would otherwise hold every record until
        the verdicts are known (they need the whole corpus), and a side
        input of all verdicts would grow with the duplicates."""
        from xlaug.transforms.spill import spill_folder
        step = self.step
        outs = (records | "Spill by shard" >> beam.ParDo(_SpillByShardFn(step, spill_folder(records.pipeline)))
                | "Group files" >> beam.GroupByKey()
                | "Decide" >> beam.FlatMap(_decide_shard, step).with_outputs(REJECTED, main="kept"))
        return StageOutput(outs.kept, outs[REJECTED])

    def _batches(self, records):
        step = self.step
        if step.grouped:
            # Records travel packed: the local runners hold every grouped value
            # in memory until its group is read (see record.pack_record).
            return (records | "Key" >> beam.Map(_pack(step))
                    | "Group" >> beam.GroupByKey()
                    | "Unpack" >> beam.Map(_unpack_group))
        if step.batch_weight is not None:
            return (records | "Weigh" >> beam.ParDo(_WeighFn(step))
                    | "SortAndBatch" >> beam.SortAndBatchElements(
                        min_batch_size=1, max_batch_size=max(1, step.batch_size),
                        max_batch_weight=max(1, int(step.batch_weight)), element_size_fn=itemgetter(0))
                    | "Unweigh" >> beam.Map(lambda batch: [r for _, r in batch]))
        if step.batch_size <= 1:
            if not isinstance(step, ModelStep):
                return records  # _ProcessFn takes them one by one
            return records | "Single" >> beam.Map(lambda r: [r])
        return records | "Batch" >> beam.BatchElements(
            min_batch_size=max(1, min(step.min_batch_size, step.batch_size)),
            max_batch_size=step.batch_size)

    def expand(self, records):
        step = self.step
        if step.grouped and step.group_values and step.summary is None:
            by_values = self.by_values
            if by_values is None:
                from xlaug.transforms.spill import holds_data_in_memory
                by_values = holds_data_in_memory(records.pipeline)
            if by_values:
                return self._by_values(records)
        context = None
        if step.summary is not None:
            context = (records | "Summary" >> beam.CombineGlobally(_SummaryFn(step.summary))
                       | "Context" >> beam.ParDo(_ContextFn(step)))
        side = [beam.pvalue.AsSingleton(context)] if context is not None else []
        batches = self._batches(records)
        if isinstance(step, ModelStep):
            # Imported here: Beam's inference module imports torch (seconds, 200 MB).
            from apache_beam.ml.inference.base import RunInference

            from xlaug.transforms.inference import StepModelHandler
            items = (batches | "WithContext" >> beam.Map(_with_context, *side)
                     | "Inference" >> RunInference(StepModelHandler(step)))
            outs = items | "Route" >> beam.ParDo(_Route()).with_outputs(REJECTED, main="kept")
        else:
            outs = batches | "Process" >> beam.ParDo(_ProcessFn(step), *side).with_outputs(
                REJECTED, main="kept")
        return StageOutput(outs.kept, outs[REJECTED], context)
