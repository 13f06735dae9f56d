"""The one seeded hash behind every random-looking choice (sampling coins,
split assignment, code-switching draws, per-row generation seeds, the
alignment layer sample).

It depends on the seed and the parts only: the same on every runner, process
and machine (hashlib, never Python's salted ``hash()``).  Each use passes its
own purpose as a part, so two choices made with the same seed for the same
record are independent (a sampling coin says nothing about the record's split).
"""
from __future__ import annotations

import hashlib
import random

_SCALE = 2.0 ** 64


def seeded_hash(seed: int, *parts) -> int:
    """A 64-bit integer fixed by ``seed`` and ``parts`` (each turned into str)."""
    text = "\x00".join([str(int(seed))] + [str(p) for p in parts])
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big")


def seeded_unit(seed: int, *parts) -> float:
    """A uniform number in [0, 1) fixed by ``seed`` and ``parts``."""
    return seeded_hash(seed, *parts) / _SCALE


def seeded_rng(seed: int, *parts) -> random.Random:
    """A ``random.Random`` seeded from ``seed`` and ``parts``."""
    return random.Random(seeded_hash(seed, *parts))
