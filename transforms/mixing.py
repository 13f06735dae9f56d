"""Small shared pieces of code-switching: mixing measures.

Used by both the ALM phrase swapper (codeswitch.py) and the dictionary
replacer (lexicon_replace.py), so both report the same scores the same way.
"""
from __future__ import annotations

import unicodedata
from typing import Sequence


def is_neutral(token: str) -> bool:
    """A token with no letter in it (punctuation, numbers, symbols) belongs to
    no language: CMI and switch points ignore it."""
    return not any(unicodedata.category(ch).startswith("L") for ch in token)


def cmi(tokens: Sequence[str], langs: Sequence[str]) -> float:
    """Code-mixing index (Das & Gambäck 2014) of one sentence:
    100 * (1 - max_lang_count / (n - u)), u = language-neutral tokens; 0 when
    every token is neutral."""
    counts: dict[str, int] = {}
    for tok, lang in zip(tokens, langs):
        if not is_neutral(tok):
            counts[lang] = counts.get(lang, 0) + 1
    total = sum(counts.values())
    if total == 0:
        return 0.0
    return 100.0 * (1.0 - max(counts.values()) / total)


def switch_points(tokens: Sequence[str], langs: Sequence[str]) -> int:
    """Number of places where the language changes between consecutive
    language-bearing tokens (neutral tokens are skipped, not counted)."""
    switches, prev = 0, None
    for tok, lang in zip(tokens, langs):
        if is_neutral(tok):
            continue
        if prev is not None and lang != prev:
            switches += 1
        prev = lang
    return switches
