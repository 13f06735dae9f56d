"""Word tokenization of text that arrives untokenised (MT output, raw corpora)."""
from __future__ import annotations

import re

_TOKEN = re.compile(r"\w+(?:[-'’.]\w+)*|[^\w\s]", re.UNICODE)


def simple_tokenize(text: str) -> tuple[str, ...]:
    """Words and single punctuation marks."""
    return tuple(_TOKEN.findall(text))
