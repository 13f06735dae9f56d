"""Read CoNLL files: one ``token<TAB>tag`` per line (whitespace also accepted,
extra columns allowed, the tag is the last column), a blank line between
sentences, ``-DOCSTART-`` lines skipped.  Errors name file:line."""
from __future__ import annotations

import re

_TAG = re.compile(r"^(O|[BI]-\S+)$")


class ConllError(ValueError):
    pass


def read_conll(path: str, *, bio: bool = True) -> list[tuple[list[str], list[str], int]]:
    """[(tokens, tags, first_line_number)]; raises ConllError('file:line: problem')."""
    sents: list[tuple[list[str], list[str], int]] = []
    toks: list[str] = []
    tags: list[str] = []
    start = 0
    try:
        f = open(path, encoding="utf-8")
    except OSError as e:
        raise ConllError(f"{path}: cannot read: {e.strerror}") from None
    with f:
        try:
            for n, line in enumerate(f, 1):
                line = line.rstrip("\r\n")
                if not line.strip():
                    if toks:
                        sents.append((toks, tags, start))
                    toks, tags = [], []
                    continue
                if line.startswith("-DOCSTART-"):
                    continue
                cols = line.split("\t") if "\t" in line else line.split()
                if len(cols) < 2 or not cols[0].strip() or not cols[-1].strip():
                    raise ConllError(f"{path}:{n}: expected 'token<TAB>tag', got {line[:60]!r}")
                tag = cols[-1].strip()
                if bio and not _TAG.match(tag):
                    raise ConllError(f"{path}:{n}: tag {tag!r} is not O, B-TYPE or I-TYPE")
                if not toks:
                    start = n
                toks.append(cols[0].strip())
                tags.append(tag)
        except UnicodeDecodeError:
            raise ConllError(f"{path}: not UTF-8 text") from None
    if toks:
        sents.append((toks, tags, start))
    if not sents:
        raise ConllError(f"{path}: no sentences")
    return sents
