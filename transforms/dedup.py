"""Deduplication across the whole corpus.

Records are keyed by a digest of their (normalised) text and language pair
and grouped with Beam's GroupByKey, so duplicates meet wherever they were
read (any file, any bundle, any worker).  In each group the record with the
first id in natural order (``id_order``: file, then line) is kept: the
choice depends on the data only, never on bundle order or runner.
"""
from __future__ import annotations

import dataclasses
import hashlib
import pickle
import re
import unicodedata
import zlib

import apache_beam as beam

from xlaug.transforms.record import Record, Rejected
from xlaug.transforms.stage import REJECTED, StageOutput

MODES = ("exact", "normalized", "off")

_PUNCT = re.compile(r"[^\w\s]|_", re.UNICODE)
_SPACE = re.compile(r"\s+", re.UNICODE)
_DIGIT = re.compile(r"\d", re.UNICODE)
_DIGITS = re.compile(r"([0-9]+)")


def normalize(text: str) -> str:
    """NFKC, case-fold, punctuation removed, every digit -> 0, whitespace
    collapsed: ``"Hello,  World 42!"`` -> ``"hello world 00"``."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _PUNCT.sub(" ", text)
    text = _DIGIT.sub("0", text)
    return _SPACE.sub(" ", text).strip()


def _sides(record: Record) -> tuple[str, str]:
    return record.text("src") or "", record.text("tgt") or ""


def dedup_key(record: Record, mode: str) -> bytes:
    """Digest of language pair + both sides (normalised in 'normalized' mode)."""
    src, tgt = _sides(record)
    if mode == "normalized":
        src, tgt = normalize(src), normalize(tgt)
    # Length-prefixed parts, so no two different pairs join to the same string.
    parts = (record.src_lang or "", record.tgt_lang or "", src, tgt)
    joined = "".join(f"{len(p)}:{p}" for p in parts)
    return hashlib.blake2b(joined.encode("utf-8"), digest_size=16).digest()


_FIELDS = tuple(f.name for f in dataclasses.fields(Record))


def pack(record: Record) -> bytes:
    """A record as compact bytes for the trip through GroupByKey.

    The local runners hold every grouped value in memory (twice: as objects
    and re-encoded) until the group is read, so the value's size is the
    pipeline's memory per record.  A field tuple pickles smaller than the
    dataclass, and zlib's fastest level takes off another third (scores'
    names repeat) for a few microseconds."""
    data = pickle.dumps(tuple(getattr(record, f) for f in _FIELDS), protocol=pickle.HIGHEST_PROTOCOL)
    return zlib.compress(data, 1)


def unpack(data: bytes) -> Record:
    return Record(*pickle.loads(zlib.decompress(data)))


def id_order(record_id: str):
    """Sort key for ids in natural order: runs of digits compare as numbers,
    the rest as text, so ``pairs.tsv:8`` < ``pairs.tsv:14`` < ``pairs.tsv:14-bt1``
    (file, then line, then derived record).  The id itself breaks ties (``07`` vs ``7``)."""
    parts = tuple((0, int(p), "") if p[0] in "0123456789" else (1, 0, p)
                  for p in _DIGITS.split(record_id) if p)
    return parts, record_id


def resolve_group(records, stage: str = "dedup"):
    """Keep the record of a group that comes first by ``id_order``; yield it, then a Rejected for
    each other one (``duplicate`` if its text equals the kept one's exactly,
    else ``near_duplicate``)."""
    records = sorted(records, key=lambda r: id_order(r.id))
    kept = records[0]
    yield kept
    kept_text = _sides(kept)
    for other in records[1:]:
        reason = "duplicate" if _sides(other) == kept_text else "near_duplicate"
        yield Rejected.of(other, stage, reason, f"same text as kept record {kept.id}")


class _Resolve(beam.DoFn):
    def __init__(self, stage):
        self.stage = stage

    def process(self, element):
        _, packed = element
        for item in resolve_group([unpack(b) for b in packed], self.stage):
            if isinstance(item, Rejected):
                yield beam.pvalue.TaggedOutput(REJECTED, item)
            else:
                yield item


class Dedup(beam.PTransform):
    """Corpus-wide dedup; returns ``StageOutput(kept, rejected)``.

    mode: ``exact`` (identical src+tgt text and languages), ``normalized``
    (identical after ``normalize``), ``off`` (passes everything through).
    """

    score_ranges: dict = {}
    thresholds: dict = {}

    def __init__(self, mode: str = "normalized", name: str = "dedup"):
        if mode not in MODES:
            raise ValueError(f"dedup mode must be one of {', '.join(MODES)}, got {mode!r}")
        super().__init__(label=name)
        self.mode = mode
        self.name = name

    def expand(self, pcoll):
        if self.mode == "off":
            empty = pcoll.pipeline | "NoRejects" >> beam.Create([])
            return StageOutput(pcoll, empty)
        mode = self.mode
        outs = (pcoll
                | "Key" >> beam.Map(lambda r: (dedup_key(r, mode), pack(r)))
                | "Group" >> beam.GroupByKey()
                | "Resolve" >> beam.ParDo(_Resolve(self.name)).with_outputs(REJECTED, main="kept"))
        return StageOutput(outs.kept, outs[REJECTED])
