"""Beam reading and writing of records.

``ReadCorpus`` reads on the workers (the driver holds only the file names),
so an input of millions of lines never sits in the driver.  ``WriteDataset``
writes Parquet shards named ``data/{split}-SSSSS-of-NNNNN.parquet`` (the
layout ``datasets.load_dataset`` understands) or JSONL, and the rejected
records as JSONL with their stage and reason.
"""
from __future__ import annotations

import json
from dataclasses import replace
from typing import Iterable

import apache_beam as beam

from xlaug.transforms import storage
from xlaug.transforms.apply import StageOutput, route
from xlaug.transforms.readers import InputSpec, count_newlines, read_any, split_bytes, splits
from xlaug.transforms.record import FIELD_KINDS, Record, Rejected
from xlaug.transforms.seeding import seeded_unit
from xlaug.transforms.stage import REJECTED


class _ReadFn(beam.DoFn):
    def process(self, spec: InputSpec, counts=()):
        if spec.end is not None:  # a split: its first line number from the newlines before it
            # (spec.lines_before: those before the range this split was cut from, when a part
            # of a run reads one range of the file; a part never holds two ranges of one file)
            before = spec.lines_before + sum(n for path, start, n in counts
                                             if path == spec.path and start < spec.start)
            spec = replace(spec, lines_before=before)
        yield from route(read_any(spec))


def _count(spec: InputSpec):
    yield spec.path, spec.start, count_newlines(spec)


class ReadCorpus(beam.PTransform):
    """InputSpecs -> StageOutput(records, rejected lines).

    Large text, TSV and JSONL files are cut into byte ranges (``splits``),
    read by many workers at once.  Ids stay ``file:line`` however a file is
    cut: each split's newlines are counted first (a fast pass over its bytes),
    and a split numbers its lines from the counts of the splits before it.
    Parallel files, CoNLL and compressed files are read whole, one worker
    each; when one of those is large, what it yields is spread over the
    workers afterwards."""

    def __init__(self, specs: Iterable[InputSpec], spread: bool = True):
        super().__init__(label="read")
        self.specs = list(specs)
        self.spread = spread

    def expand(self, pbegin):
        units, whole_and_large = [], False
        for spec in self.specs:
            if spec.format == "hf":
                units.append(spec)
                continue
            size = storage.size(spec.path) if spec.end is None else spec.end - spec.start
            parts = splits(spec, size)
            units += parts
            whole_and_large |= len(parts) == 1 and spec.end is None and size > split_bytes(size)
        specs = pbegin | "Specs" >> beam.Create(units)
        if self.spread and len(units) > 1:
            specs = specs | "Spread files" >> beam.Reshuffle()  # one split per worker at a time
        counts = ()
        if any(u.end is not None for u in units):
            counts = beam.pvalue.AsList(
                specs | "Split lines" >> beam.Filter(lambda u: u.end is not None)
                | "Count lines" >> beam.FlatMap(_count))
        outs = (specs
                | "Read" >> beam.ParDo(_ReadFn(), counts).with_outputs(REJECTED, main="kept"))
        kept = outs.kept
        if self.spread and whole_and_large:
            # Reading a file whole is sequential; spread what it yields over
            # the workers (pointless in-process, where there is one worker).
            # Split files need no such shuffle: their splits are spread already.
            kept = kept | "Spread" >> beam.Reshuffle()
        return StageOutput(kept, outs[REJECTED])


# -- Parquet form ----------------------------------------------------------

def arrow_schema(score_names: Iterable[str]):
    """Columns: the record fields, ``scores`` as a struct of the pipeline's
    declared score names, ``scores_extra`` (JSON) for any other score, so
    nothing is lost and the usual scores are typed columns."""
    import pyarrow as pa

    kinds = {"str": pa.string(), "opt_str": pa.string(), "opt_strs": pa.list_(pa.string()),
             "opt_floats": pa.list_(pa.float64()), "opt_links": pa.list_(pa.list_(pa.int32()))}
    fields = []
    for name, kind in FIELD_KINDS.items():
        if kind in kinds:
            fields.append(pa.field(name, kinds[kind]))
    names = sorted(set(score_names))
    if names:
        fields.append(pa.field("scores", pa.struct([pa.field(n, pa.float64()) for n in names])))
    fields.append(pa.field("scores_extra", pa.string()))
    fields.append(pa.field("origin", pa.list_(pa.struct([
        pa.field("stage", pa.string()), pa.field("model", pa.string()), pa.field("params", pa.string())]))))
    return pa.schema(fields)


def to_row(record: Record, score_names: frozenset) -> dict:
    row = record.to_dict()
    scores = row.pop("scores")
    if score_names:
        row["scores"] = {n: scores.get(n) for n in score_names}
    extra = {k: v for k, v in scores.items() if k not in score_names}
    row["scores_extra"] = json.dumps(extra, sort_keys=True) if extra else None
    row["origin"] = [{"stage": s.get("stage"), "model": s.get("model"),
                      "params": json.dumps(s.get("params") or {}, sort_keys=True, default=str)}
                     for s in row["origin"]]
    return row


# -- splits ------------------------------------------------------------------

def parse_splits(text: str) -> dict[str, float]:
    """'train=0.9,validation=0.05,test=0.05' -> fractions summing to 1."""
    out = {}
    for part in text.split(","):
        name, _, frac = part.partition("=")
        name = name.strip()
        if not name or not name.replace("_", "").isalnum():
            raise ValueError(f"bad split name {name!r} in {text!r}")
        try:
            out[name] = float(frac) if frac else 1.0
        except ValueError:
            raise ValueError(f"bad fraction {frac!r} for split {name!r}") from None
    total = sum(out.values())
    if not out or any(v < 0 for v in out.values()) or abs(total - 1.0) > 1e-6:
        raise ValueError(f"split fractions must be >= 0 and sum to 1, got {text!r}")
    return out


def split_of(record_id: str, splits: dict[str, float], seed: int) -> str:
    """Deterministic split from the seeded hash of id: same on every runner."""
    u = seeded_unit(seed, "split", record_id)
    acc = 0.0
    for name, frac in splits.items():
        acc += frac
        if u < acc:
            return name
    return name


class WriteDataset(beam.PTransform):
    """Write kept records per split and the rejected records; returns the
    per-split counts as a PCollection of (split, n)."""

    def __init__(self, out_dir: str, *, splits: dict[str, float], seed: int, fmt: str,
                 score_names: Iterable[str], shards: int = 0, export: str = "records",
                 langs: tuple = (None, None)):
        super().__init__(label="write")
        # export: the columns (transforms/export.py); records is xlaug's full form
        self.export, self.langs = export, tuple(langs)
        self.out_dir, self.splits, self.seed, self.fmt = out_dir, splits, seed, fmt
        self.score_names = frozenset(score_names)
        self.shards = shards

    def expand(self, pcolls):
        kept, rejected = pcolls
        from apache_beam.io import WriteToText
        splits, seed = self.splits, self.seed
        names = list(splits)
        if len(names) == 1:
            parts = [kept]  # one split: no per-record hashing
        else:
            parts = kept | "Split" >> beam.Partition(
                lambda r, n: names.index(split_of(r.id, splits, seed)), len(names))
        template = "-SSSSS-of-NNNNN"
        for name, part in zip(names, parts):
            prefix = f"{self.out_dir}/data/{name}"
            if self.export != "records":
                self._write_export(name, part, prefix, template)
            elif self.fmt == "parquet":
                from apache_beam.io.parquetio import WriteToParquet
                schema, score_names = arrow_schema(self.score_names), self.score_names
                (part | f"Row {name}" >> beam.Map(to_row, score_names)
                 | f"Parquet {name}" >> WriteToParquet(prefix, schema, file_name_suffix=".parquet",
                                                       num_shards=self.shards,
                                                       shard_name_template=template))
            else:
                (part | f"Json {name}" >> beam.Map(Record.to_json)
                 | f"Jsonl {name}" >> WriteToText(prefix, file_name_suffix=".jsonl",
                                                  num_shards=self.shards, shard_name_template=template))
        (rejected | "Rejected json" >> beam.Map(Rejected.to_json)
         | "Rejected write" >> WriteToText(f"{self.out_dir}/rejected/rejected", file_name_suffix=".jsonl",
                                           num_shards=self.shards, shard_name_template=template))
        return [part | f"Count {name}" >> beam.combiners.Count.Globally()
                | f"Count tag {name}" >> beam.Map(lambda n, s=name: (s, n))
                for name, part in zip(names, parts)] | "Split counts" >> beam.Flatten()

    def _write_export(self, name: str, part, prefix: str, template: str) -> None:
        from apache_beam.io import WriteToText

        from xlaug.transforms import export
        kind, (src, tgt) = self.export, self.langs
        scores = self.score_names if kind == "mt" else frozenset()
        rows = part | f"Export {name}" >> beam.FlatMap(export.export_rows, kind, src, tgt, scores)
        if self.fmt == "parquet":
            from apache_beam.io.parquetio import WriteToParquet
            (rows | f"Parquet {name}" >> WriteToParquet(prefix, export.arrow_schema(kind, src, tgt, scores),
                                                        file_name_suffix=".parquet", num_shards=self.shards,
                                                        shard_name_template=template))
        else:
            (rows | f"Json {name}" >> beam.Map(lambda r: json.dumps(r, ensure_ascii=False))
             | f"Jsonl {name}" >> WriteToText(prefix, file_name_suffix=".jsonl", num_shards=self.shards,
                                              shard_name_template=template))
