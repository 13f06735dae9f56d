"""Deduplication across the whole corpus.

Records are keyed by a digest of their (normalised) text and language pair;
``Dedup`` is a grouped stage, so under Beam duplicates meet wherever they
were read (any file, any bundle, any worker).  On distributed runners the
records themselves are grouped (GroupByKey).  Beam's local runners hold
grouped data in memory, so there the records and their (key, id, text
digest) wait in local files, a pair per shard of keys, and one task per shard
decides from the digests and then passes on or rejects its records
(``ApplyStep``'s ``by_values``): memory stays near flat in the size of the
corpus.
In each group the record with the first id in natural order (``id_order``:
file, then line) is kept: the choice depends on the data only, never on bundle
order or runner.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata

from xlaug.transforms.record import Record, Rejected
from xlaug.transforms.stage import Step

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


def id_order(record_id: str):
    """Sort key for ids in natural order: runs of digits compare as numbers,
    the rest as text, so ``pairs.tsv:8`` < ``pairs.tsv:14`` < ``pairs.tsv:14-bt1``
    (file, then line, then derived record).  The id itself breaks ties (``07`` vs ``7``)."""
    parts = tuple((0, int(p), "") if p[0] in "0123456789" else (1, 0, p)
                  for p in _DIGITS.split(record_id) if p)
    return parts, record_id


def text_digest(record: Record) -> bytes:
    """Digest of both sides exactly as written: equal digests, equal text."""
    joined = "".join(f"{len(p)}:{p}" for p in _sides(record))
    return hashlib.blake2b(joined.encode("utf-8"), digest_size=16).digest()


def resolve_values(values):
    """``resolve_group`` on (id, text digest) values: (id, (reason, detail)) of
    each record to reject."""
    values = sorted(values, key=lambda v: id_order(v[0]))
    kept_id, kept_text = values[0]
    for rid, text in values[1:]:
        reason = "duplicate" if text == kept_text else "near_duplicate"
        yield rid, (reason, f"same text as kept record {kept_id}")


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


class Dedup(Step):
    """Corpus-wide dedup: a grouped stage (records with the same
    ``dedup_key`` meet in one ``process_batch`` call, on any runner).

    mode: ``exact`` (identical src+tgt text and languages), ``normalized``
    (identical after ``normalize``), ``off`` (passes everything through).
    """

    def __init__(self, mode: str = "normalized", name: str = "dedup"):
        if mode not in MODES:
            raise ValueError(f"dedup mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.mode = mode
        self.name = name
        self.grouped = mode != "off"
        self.group_values = self.grouped  # a group needs ids and digests only, not records

    def group_key(self, record: Record) -> bytes:
        return dedup_key(record, self.mode)

    def process(self, record: Record):
        yield record  # mode off

    def process_batch(self, records, context=None, model=None):
        return resolve_group(records, self.name)

    def group_value(self, record: Record):
        return record.id, text_digest(record)

    def verdicts(self, values):
        return resolve_values(values)
