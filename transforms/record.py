"""The one record type every stage reads and writes, and its JSON form.

A record is immutable: stages return a new record (``replace`` / ``with_scores``)
so a value seen by one Beam step can never be changed under another.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, NamedTuple

SCHEMA_VERSION = 1

# Field name -> kind, used by the schema check and the Parquet schema.
FIELD_KINDS = {
    "id": "str",
    "src_lang": "opt_str",
    "tgt_lang": "opt_str",
    "src_text": "opt_str",
    "tgt_text": "opt_str",
    "src_tokens": "opt_strs",
    "tgt_tokens": "opt_strs",
    "src_labels": "opt_strs",
    "tgt_labels": "opt_strs",
    "token_langs": "opt_strs",
    "alignment": "opt_links",
    "link_scores": "opt_floats",
    "scores": "scores",
    "origin": "origin",
    "loc": "opt_str",
}


class RecordError(ValueError):
    """A JSON object that is not a valid record; the message says which field."""


@dataclass(frozen=True)
class Record:
    """One segment or segment pair.

    ``src_*`` is the side the data came from, ``tgt_*`` the other language.
    Tokens and labels are parallel tuples; ``alignment`` holds 0-based
    ``(src_index, tgt_index)`` word links, ``link_scores`` a similarity per link.  ``token_langs`` tags each target
    token with its language (code-switched output).  ``origin`` is the chain
    of stages that made the record (stage, model, params); ``loc`` is
    ``file:line`` of the input it came from.
    """

    id: str
    src_lang: str | None = None
    tgt_lang: str | None = None
    src_text: str | None = None
    tgt_text: str | None = None
    src_tokens: tuple[str, ...] | None = None
    tgt_tokens: tuple[str, ...] | None = None
    src_labels: tuple[str, ...] | None = None
    tgt_labels: tuple[str, ...] | None = None
    token_langs: tuple[str, ...] | None = None
    alignment: tuple[tuple[int, int], ...] | None = None
    link_scores: tuple[float, ...] | None = None
    scores: Mapping[str, float] = field(default_factory=dict)
    origin: tuple[Mapping[str, Any], ...] = ()
    loc: str | None = None

    # -- derived views -------------------------------------------------
    def text(self, side: str) -> str | None:
        """Text of ``side`` ('src'/'tgt'), joined from tokens when no text."""
        text = getattr(self, f"{side}_text")
        if text is None:
            toks = getattr(self, f"{side}_tokens")
            if toks is not None:
                from xlaug.transforms.segment import join_tokens
                return join_tokens(toks)
        return text

    def tokens(self, side: str) -> tuple[str, ...] | None:
        """Tokens of ``side``, whitespace-split from text when no tokens."""
        toks = getattr(self, f"{side}_tokens")
        if toks is None:
            text = getattr(self, f"{side}_text")
            if text is not None:
                return tuple(text.split())
        return toks

    @property
    def is_parallel(self) -> bool:
        return self.text("tgt") is not None

    # -- building new records -----------------------------------------
    def replace(self, **changes: Any) -> "Record":
        return dataclasses.replace(self, **_normalise(changes))

    def with_scores(self, **scores: float) -> "Record":
        merged = dict(self.scores)
        merged.update({k: float(v) for k, v in scores.items()})
        return dataclasses.replace(self, scores=merged)

    def with_origin(self, stage: str, model: str | None = None, **params: Any) -> "Record":
        step = {"stage": stage, "model": model, "params": params}
        return dataclasses.replace(self, origin=self.origin + (step,))

    # -- JSON form -------------------------------------------------------
    def to_dict(self) -> dict:
        out = {}
        for name in FIELD_KINDS:
            value = getattr(self, name)
            if isinstance(value, tuple) and name != "origin":
                value = [list(v) if isinstance(v, tuple) else v for v in value]
            elif name == "origin":
                value = [dict(step) for step in value]
            elif name == "scores":
                value = dict(value)
            out[name] = value
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Record":
        check_record_dict(data)
        known = {k: v for k, v in data.items() if k in FIELD_KINDS}
        return cls(**_normalise(known))

    @classmethod
    def from_json(cls, line: str) -> "Record":
        try:
            data = json.loads(line)
        except json.JSONDecodeError as e:
            raise RecordError(f"not valid JSON: {e.msg} at column {e.colno}") from None
        if not isinstance(data, dict):
            raise RecordError(f"expected a JSON object, got {type(data).__name__}")
        return cls.from_dict(data)

    def __post_init__(self):
        # Parallel sequences must agree, or every later stage breaks in a worse place.
        for side in ("src", "tgt"):
            toks = getattr(self, f"{side}_tokens")
            labels = getattr(self, f"{side}_labels")
            if labels is not None and toks is not None and len(labels) != len(toks):
                raise RecordError(
                    f"record {self.id}: {side}_labels has {len(labels)} items "
                    f"but {side}_tokens has {len(toks)}")
        if self.link_scores is not None and self.alignment is not None \
                and len(self.link_scores) != len(self.alignment):
            raise RecordError(f"record {self.id}: link_scores and alignment differ in length")
        if self.token_langs is not None and self.tgt_tokens is not None \
                and len(self.token_langs) != len(self.tgt_tokens):
            raise RecordError(f"record {self.id}: token_langs and tgt_tokens differ in length")


class Created(NamedTuple):
    """How a stage made a record from another: the parent's id, how many
    records (kept or rejected) the stage made from that parent, and which of
    them this one is (0-based; None when the stage does not say)."""

    parent: str
    siblings: int
    child: int | None = None


def created_by(record: Record, stage: str) -> Created | None:
    """The ``Created`` mark ``stage`` left on ``record``, or None when the
    record is not one that stage made.

    The convention every creating stage follows (the identity check reads it):
    ``child.with_origin(stage, model, parent=<parent id>, siblings=<k>,
    child=<i>, ...)``.  With several marks of ``stage`` (records that went
    through the same stage in an earlier run) the last one counts."""
    marks = created_chain(record, stage)
    return marks[-1] if marks else None


def created_chain(record: Record, stage: str) -> list[Created]:
    """Every well-formed ``Created`` mark of ``stage`` in the record's origin, oldest first."""
    out = []
    for step in record.origin:
        if step.get("stage") != stage:
            continue
        params = step.get("params") or {}
        parent, siblings, child = params.get("parent"), params.get("siblings"), params.get("child")
        if parent is None or not isinstance(siblings, int) or isinstance(siblings, bool) or siblings < 1:
            continue
        if not (isinstance(child, int) and not isinstance(child, bool) and 0 <= child < siblings):
            child = None
        out.append(Created(str(parent), siblings, child))
    return out


def _normalise(values: Mapping[str, Any]) -> dict:
    """Lists from JSON/Parquet -> tuples, so records stay hashable and frozen."""
    out = dict(values)
    for name, value in values.items():
        kind = FIELD_KINDS.get(name)
        if value is None:
            continue
        if kind == "opt_strs":
            out[name] = tuple(value)
        elif kind == "opt_floats":
            out[name] = tuple(float(v) for v in value)
        elif kind == "opt_links":
            out[name] = tuple((int(i), int(j)) for i, j in value)
        elif kind == "origin":
            out[name] = tuple(dict(step) for step in value)
        elif kind == "scores":
            out[name] = {k: float(v) for k, v in dict(value).items() if v is not None}
    return out


def check_record_dict(data: Mapping[str, Any]) -> None:
    """Raise RecordError naming the first field that breaks the schema."""
    if "id" not in data or not isinstance(data["id"], (str, int)) or data["id"] == "":
        raise RecordError("field 'id' is missing or empty")
    unknown = sorted(set(data) - set(FIELD_KINDS))
    if unknown:
        raise RecordError(f"unknown field(s): {', '.join(unknown)}")
    for name, value in data.items():
        kind = FIELD_KINDS[name]
        if value is None or name == "id":
            continue
        if kind == "opt_str" and not isinstance(value, str):
            raise RecordError(f"field '{name}' must be a string")
        if kind == "opt_strs" and not (_is_list(value) and all(isinstance(v, str) for v in value)):
            raise RecordError(f"field '{name}' must be a list of strings")
        if kind == "opt_floats" and not (_is_list(value) and all(isinstance(v, (int, float)) for v in value)):
            raise RecordError(f"field '{name}' must be a list of numbers")
        if kind == "opt_links" and not (_is_list(value) and all(
                _is_list(v) and len(v) == 2 and all(isinstance(x, int) and x >= 0 for x in v)
                for v in value)):
            raise RecordError(f"field '{name}' must be a list of [src_index, tgt_index] pairs of non-negative ints")
        if kind == "scores" and not (isinstance(value, Mapping) and all(
                isinstance(v, (int, float)) or v is None for v in value.values())):
            raise RecordError(f"field '{name}' must be an object of numbers")
        if kind == "origin" and not (_is_list(value) and all(isinstance(v, Mapping) for v in value)):
            raise RecordError(f"field '{name}' must be a list of objects")


def _is_list(value: Any) -> bool:
    return isinstance(value, (list, tuple))


@dataclass(frozen=True)
class Rejected:
    """A record (or an input line that never became one) that a stage refused.

    Nothing leaves the flow without one of these: the rejected output and the
    report are built from them.
    """

    stage: str
    reason: str
    detail: str = ""
    record: Record | None = None
    loc: str | None = None
    raw: str | None = None

    def __post_init__(self):
        # Plain str only: a str subclass travels to Beam workers pickled, and
        # one with a constructor of its own cannot be unpickled there.
        for name in ("stage", "reason", "detail", "loc", "raw"):
            value = getattr(self, name)
            if value is not None and type(value) is not str:
                object.__setattr__(self, name, str(value))

    def to_dict(self) -> dict:
        return {
            "stage": self.stage,
            "reason": self.reason,
            "detail": self.detail,
            "loc": self.loc if self.loc is not None else (self.record.loc if self.record else None),
            "raw": self.raw,
            "record": self.record.to_dict() if self.record is not None else None,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def of(cls, record: Record, stage: str, reason: str, detail: str = "") -> "Rejected":
        return cls(stage=stage, reason=reason, detail=detail, record=record, loc=record.loc)


_FIELDS = tuple(f.name for f in dataclasses.fields(Record))


def pack_record(record: Record) -> bytes:
    """A record as compact bytes, for trips through a shuffle (GroupByKey).

    The local runners hold every grouped value in memory (twice: as objects
    and re-encoded) until the group is read, so the value's size is the
    pipeline's memory per record.  A field tuple pickles smaller than the
    dataclass, and zlib's fastest level takes off another third (scores'
    names repeat) for a few microseconds."""
    import pickle
    import zlib
    data = pickle.dumps(tuple(getattr(record, f) for f in _FIELDS), protocol=pickle.HIGHEST_PROTOCOL)
    return zlib.compress(data, 1)


def unpack_record(data: bytes) -> Record:
    import pickle
    import zlib
    return Record(*pickle.loads(zlib.decompress(data)))


def iter_records(lines: Iterable[str]) -> Iterable[Record]:
    for line in lines:
        if line.strip():
            yield Record.from_json(line)
