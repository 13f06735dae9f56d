"""BIO labels, read the same way by every stage.

A BIO label is ``O``, ``B-TYPE`` or ``I-TYPE``: an upper-case B or I, a
hyphen and a non-empty TYPE (any characters: ``B-PER``, ``I-geo-loc``).
Anything else (``PER``, ``NOUN``, ``B-``, ``b-per``, ``E-LOC``) is not a BIO
label, and a sequence holding one is not BIO (it has no entity spans).

In a BIO sequence, ``I-TYPE`` normally continues a TYPE span (it follows
``B-TYPE`` or ``I-TYPE``).  A *stray* ``I-TYPE`` (first, after ``O`` or
after another type) is read the conlleval way: it opens a new TYPE span.
``spans`` reads it so (or raises with ``strict=True``), ``repair`` writes
that reading out as ``B-TYPE``, and ``problem`` reports it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

Span = tuple[int, int, str]  # (start, end_exclusive, type)


class BioError(ValueError):
    """Labels that are not BIO (or, where strict, hold a stray I-)."""

    def __init__(self, index: int, message: str):
        super().__init__(message)
        self.index = index


@dataclass(frozen=True)
class BioProblem:
    """The first problem of a label sequence: 0-based token index and a message
    that names the token 1-based, as a user counts."""

    index: int
    message: str

    def __str__(self) -> str:
        return self.message


def split_label(label: str) -> tuple[str, str] | None:
    """``('O', '')``, ``('B', TYPE)``, ``('I', TYPE)``, or None for a label that is not BIO."""
    if label == "O":
        return "O", ""
    if isinstance(label, str) and len(label) > 2 and label[0] in "BI" and label[1] == "-":
        return label[0], label[2:]
    return None


def is_label(label: str) -> bool:
    return split_label(label) is not None


def is_bio(labels: Iterable[str]) -> bool:
    """Every label is a BIO label (stray I- allowed): the sequence or label set is BIO."""
    return all(split_label(label) is not None for label in labels)


def problem(labels: Sequence[str], *, strict: bool = True) -> BioProblem | None:
    """The first label that is not BIO, or (``strict``) the first stray I-; None when fine."""
    prev = ""
    for i, label in enumerate(labels):
        parts = split_label(label)
        if parts is None:
            return BioProblem(i, f"tag {label!r} at token {i + 1} is not O, B-TYPE or I-TYPE")
        tag, typ = parts
        if strict and tag == "I" and typ != prev:
            after = f"follows {labels[i - 1]}" if i else "starts the sentence"
            return BioProblem(i, f"{label} at token {i + 1} {after} (no {typ} span to continue)")
        prev = typ
    return None


def repair(labels: Sequence[str]) -> tuple[tuple[str, ...], int]:
    """(labels with every stray I-TYPE written as B-TYPE, number of such repairs).
    Labels that are not BIO are left as they are (check them with ``problem``)."""
    out, fixes, prev = [], 0, ""
    for label in labels:
        parts = split_label(label)
        if parts is None:
            prev = ""
        else:
            tag, typ = parts
            if tag == "I" and typ != prev:
                label, fixes = "B-" + typ, fixes + 1
            prev = typ
        out.append(label)
    return tuple(out), fixes


def spans(labels: Sequence[str], *, strict: bool = False) -> list[Span]:
    """BIO labels -> [(start, end_exclusive, type)].  Raises BioError on a label
    that is not BIO, and with ``strict`` on a stray I-."""
    bad = problem(labels, strict=strict)
    if bad is not None:
        raise BioError(bad.index, bad.message)
    out: list[Span] = []
    start, kind = None, ""
    for i, label in enumerate(labels):
        tag, typ = split_label(label)  # type: ignore[misc]
        if tag == "I" and typ == kind:
            continue
        if start is not None:
            out.append((start, i, kind))
        start, kind = (None, "") if tag == "O" else (i, typ)
    if start is not None:
        out.append((start, len(labels), kind))
    return out


def from_spans(spans_: Iterable[Span], n: int) -> list[str]:
    """n labels, ``O`` outside the spans; spans must not overlap."""
    labels = ["O"] * n
    for start, end, typ in spans_:
        labels[start] = f"B-{typ}"
        for k in range(start + 1, end):
            labels[k] = f"I-{typ}"
    return labels
