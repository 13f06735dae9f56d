"""Word tokenization of text that arrives untokenised (MT output, raw corpora).

Scripts written without spaces (zh, ja, th, lo, km, my) are segmented into
words (xlaug.transforms.segment); other text splits on spaces and punctuation.
"""
from __future__ import annotations

from xlaug.transforms.segment import segment_words


def simple_tokenize(text: str, segmenter: str = "auto") -> tuple[str, ...]:
    """Words and single punctuation marks."""
    return segment_words(text, segmenter)
