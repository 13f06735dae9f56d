"""Bilingual lexicons: a loader for common formats and the lexicons shipped here.

Formats read (one entry a line, ``#`` starts a comment line, blank lines skipped):
- ``src<TAB>tgt`` or ``src<TAB>tgt<TAB>weight``: tab separated; either side may
  be several words (a multi-word entry), weight a positive number;
- ``src tgt`` or ``src tgt weight``: space separated single words -- MUSE
  bilingual dictionaries (``en-de.txt``) load as they are.
A malformed line raises ``LexiconError("file:line: problem")``.

Shipped lexicons live in ``dictionaries/data/NAME.tsv`` (NAME like ``en-de``);
``available()`` lists them and ``load_lexicon(NAME)`` loads one.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
_PAIR_NAME = re.compile(r"^([A-Za-z]{2,3})-([A-Za-z]{2,3})(?:[._-]|$)")


class LexiconError(ValueError):
    """A lexicon file that cannot be read; the message starts with file:line."""


@dataclass
class Lexicon:
    """Entries keyed by the (lowercased) source word tuple; each holds a list of
    (target word tuple, weight).  ``max_len``: longest source entry, in words."""

    entries: dict[tuple[str, ...], list[tuple[tuple[str, ...], float]]] = field(default_factory=dict)
    src_lang: str | None = None
    tgt_lang: str | None = None
    lowercase: bool = True
    weighted: bool = False
    name: str | None = None

    max_len: int = 0  # longest source entry, in words (kept up to date by add)

    def __post_init__(self):
        self.max_len = max((len(k) for k in self.entries), default=0)

    def __len__(self) -> int:
        return sum(len(v) for v in self.entries.values())

    def key(self, words) -> tuple[str, ...]:
        return tuple(w.lower() for w in words) if self.lowercase else tuple(words)

    def lookup(self, words) -> list[tuple[tuple[str, ...], float]]:
        return self.entries.get(self.key(words), [])

    def add(self, src: tuple[str, ...], tgt: tuple[str, ...], weight: float = 1.0) -> None:
        options = self.entries.setdefault(self.key(src), [])
        self.max_len = max(self.max_len, len(src))
        for k, (t, w) in enumerate(options):
            if t == tgt:  # repeated pair: weights add up
                options[k] = (t, w + weight)
                return
        options.append((tgt, weight))


def available() -> list[str]:
    """Names of the lexicons shipped with the package."""
    if not os.path.isdir(DATA_DIR):
        return []
    return sorted(f[:-4] for f in os.listdir(DATA_DIR) if f.endswith(".tsv"))


def resolve(path_or_name: str) -> str:
    from xlaug.transforms import storage
    if os.path.isfile(path_or_name) or (storage.is_remote(path_or_name) and storage.exists(path_or_name)):
        return path_or_name  # gs://, s3://, ... read through Beam's FileSystems
    shipped = os.path.join(DATA_DIR, f"{path_or_name}.tsv")
    if os.path.isfile(shipped):
        return shipped
    raise LexiconError(f"{path_or_name}: no such lexicon file, and not a shipped lexicon "
                       f"(shipped: {', '.join(available()) or 'none'})")


def load_lexicon(path_or_name: str, *, lowercase: bool = True, src_lang: str | None = None,
                 tgt_lang: str | None = None) -> Lexicon:
    """Read a lexicon file (or a shipped lexicon by name).  Languages come from
    the arguments, else a ``# langs: en-de`` header line, else a file name
    starting ``xx-yy``."""
    path = resolve(path_or_name)
    from xlaug.transforms import storage
    base = storage.basename(storage.plain_name(path))
    lex = Lexicon(lowercase=lowercase, name=base.rsplit(".", 1)[0])
    m = _PAIR_NAME.match(base)
    header_langs = None
    try:
        with storage.open_read(path) as f:
            for lineno, raw in enumerate(f, 1):
                line = raw.decode("utf-8")
                _parse_line(lex, line, f"{path}:{lineno}", lineno)
                if line.startswith("#") and header_langs is None:
                    hm = re.match(r"#\s*langs:\s*([A-Za-z_]+)-([A-Za-z_]+)", line)
                    if hm:
                        header_langs = hm.groups()
    except UnicodeDecodeError as e:
        raise LexiconError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    if not lex.entries:
        raise LexiconError(f"{path}: no entries")
    guess = header_langs or (m.groups() if m else (None, None))
    lex.src_lang = src_lang or guess[0]
    lex.tgt_lang = tgt_lang or guess[1]
    return lex


def _parse_line(lex: Lexicon, line: str, where: str, lineno: int) -> None:
    text = line.rstrip("\r\n")
    if lineno == 1:
        text = text.lstrip("\ufeff")
    if not text.strip() or text.lstrip().startswith("#"):
        return
    if "\t" in text:
        cols = [c.strip() for c in text.split("\t")]
    else:
        cols = text.split()
        if len(cols) > 3 or (len(cols) == 3 and not _is_number(cols[2])):
            raise LexiconError(f"{where}: {len(cols)} space-separated columns; multi-word "
                               "entries need tab-separated columns (src<TAB>tgt[<TAB>weight])")
    if len(cols) not in (2, 3):
        raise LexiconError(f"{where}: expected 2 or 3 columns (src, tgt[, weight]), got {len(cols)}")
    src, tgt = tuple(cols[0].split()), tuple(cols[1].split())
    if not src or not tgt:
        raise LexiconError(f"{where}: empty {'source' if not src else 'target'} entry")
    weight = 1.0
    if len(cols) == 3:
        if not _is_number(cols[2]) or not float(cols[2]) > 0 or math.isinf(float(cols[2])):
            raise LexiconError(f"{where}: weight must be a positive number, got {cols[2]!r}")
        weight = float(cols[2])
        lex.weighted = True
    lex.add(src, tgt, weight)


def _is_number(text: str) -> bool:
    try:
        return not math.isnan(float(text))
    except ValueError:
        return False
