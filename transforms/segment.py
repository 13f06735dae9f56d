"""Words, sentences and joins for text in any script.

Chinese, Japanese, Thai, Lao, Khmer and Burmese are written without spaces
between words.  Runs of those scripts are segmented with ICU's dictionary
word break (the ``icu4py`` wheel bundles ICU and its dictionaries: one
library for all six scripts); everything else (Latin, Cyrillic, digits,
Korean, ...) is split on spaces and punctuation as before, so Latin names
and numbers inside Chinese text stay whole.

Segmenters (``--segmenter``):
  auto        ICU for unspaced-script runs, when the text has any
  icu         the same, and ICU must be installed even if no such text comes
  whitespace  no segmentation: spaces and punctuation only (a Chinese clause
              is one word; for text that is already segmented)
  kiwi        as auto, and Korean (Hangul) split into morphemes by kiwipiepy,
              so particles come off their nouns (베를린에서 -> 베를린 에서)
  fugashi     as auto, but Japanese (kana/kanji runs) by MeCab with UniDic
              (fugashi + unidic-lite), which keeps verb endings whole
A missing library is a one-line error naming the extra, never a fallback.
"""
from __future__ import annotations

import re
from functools import lru_cache

from xlaug.transforms.errors import UsageError

SEGMENTERS = ("auto", "icu", "whitespace", "kiwi", "fugashi")
EXTRA = "segment"
# Optional per-language segmenters: the library and the extra that installs it.
_OPTIONAL = {"kiwi": ("kiwipiepy", "korean", "Korean morphemes"),
             "fugashi": ("fugashi and unidic-lite", "japanese", "Japanese words by MeCab/UniDic")}

# Letters of the scripts written without spaces between words (with their
# combining marks and Japanese iteration/prolonged-sound marks).
_UNSPACED = (
    "\u0e00-\u0e7f"            # Thai
    "\u0e80-\u0eff"            # Lao
    "\u1000-\u109f\ua9e0-\ua9ff\uaa60-\uaa7f"  # Myanmar
    "\u1780-\u17ff\u19e0-\u19ff"               # Khmer
    "\u3005-\u3007\u3021-\u3029\u3031-\u3035"  # 々〆〇, Suzhou numerals, kana repeat marks
    "\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9f"  # Hiragana, Katakana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"  # Han
)
_RUN = re.compile(f"([{_UNSPACED}]+)")
_UNSPACED_CHAR = re.compile(f"[{_UNSPACED}]")
# Full-width punctuation of these scripts: never a space around it.
_CJK_PUNCT = "\u3000-\u3004\u3008-\u3020\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65"
_TIGHT_PUNCT = re.compile(f"[{_CJK_PUNCT}\u0e2f\u0e5a\u0e5b\u104a\u104b\u17d4-\u17da]")
# Between two of these (letters or punctuation) no space either.
_TIGHT = re.compile(f"[{_UNSPACED}{_CJK_PUNCT}\u0e2f\u0e5a\u0e5b\u104a\u104b\u17d4-\u17da]")
# Spaced text: words (with inner hyphens/apostrophes/dots, and commas between
# digits: 5,5 and 1,000) and single marks; _spaced_words re-attaches the marks
# that belong to a word.
_TOKEN = re.compile(r"\w+(?:(?:[-'’.]|(?<=\d),(?=\d))\w+)*|[^\w\s]", re.UNICODE)
_CLITIC = re.compile(r"(?i)(?:s|re|ve|ll|d|m)")


def _spaced_words(text: str) -> list[str]:
    """Words and marks of spaced text.  A full stop stays on its word when
    the sentence evidently goes on after it: an ordinal (``am 17. Dezember``:
    digits, then a word), an abbreviation before a lowercase word or a
    number (``bzw. die``, ``e.g. here``, ``Nr. 5``), a single letter
    (``d. h.``, ``J. Smith``); a sentence-final ``17 .`` keeps its own
    token.  A hyphen stays on a truncated compound (``Struktur- und
    -fonds``) and on a negative number (``-40``), an apostrophe on an
    English clitic written apart (``Commission 's``), so tokenized text
    joined with spaces splits back into its tokens."""
    found = [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]
    out: list[str] = []
    k = 0
    while k < len(found):
        tok, start, end = found[k]
        nxt = found[k + 1] if k + 1 < len(found) else None
        glued = nxt is not None and nxt[1] == end  # no space before the next token
        after = found[k + 2] if k + 2 < len(found) else None
        initials = bool(out) and len(out[-1]) == 2 and out[-1][0].isalpha() and out[-1][1] == "."
        if glued and nxt[0] == "." and _word(tok) and (_stop_is_inner(tok, after)
                                                        or (initials and len(tok) == 1 and tok.isalpha())):
            out.append(tok + ".")
            k += 2
            continue
        if glued and nxt[0] == "-" and _word(tok) and (after is None or after[1] > nxt[2]):
            out.append(tok + "-")  # Struktur- und: a space after the hyphen
            k += 2
            continue
        if glued and tok in ("-", "'", "’") and (start == 0 or text[start - 1].isspace()) and _word(nxt[0]):
            head = nxt[0][0]
            if (head.isdigit() or head.islower()) if tok == "-" else _CLITIC.fullmatch(nxt[0]):
                out.append(tok + nxt[0])  # -fonds, -40, 's
                k += 2
                continue
        out.append(tok)
        k += 1
    return out


def _word(tok: str) -> bool:
    return tok[0].isalnum() or tok[0] == "_"


def _stop_is_inner(tok: str, after) -> bool:
    """Whether the full stop after ``tok`` belongs to it (``after``: the token after the stop)."""
    if after is None or not _word(after[0]):
        return False  # the end of the text, or a mark follows: a sentence end
    if tok.isdigit():
        return True  # an ordinal: 17. Dezember, 1. Januar
    first = after[0][0]
    if first.islower() or first.isdigit():
        return True  # bzw. die, e.g. here, Nr. 5
    if len(tok) == 1 and tok.isalpha():
        return True  # an initial: J. Smith, d. h. (then h. by the caller)
    return False


def needs_segmentation(text: str) -> bool:
    """Whether ``text`` has letters of a script written without spaces."""
    return bool(_UNSPACED_CHAR.search(text))


# Languages written in those scripts: a run declaring one needs ICU up front.
UNSPACED_LANGS = frozenset("zh ja th lo km my".split())


def check_segmenter(name: str, langs=()) -> None:
    """Fail early (one line) on an unknown segmenter, on ``icu`` without ICU,
    on ``kiwi``/``fugashi`` without their library, and without ICU when one
    of ``langs`` (any code form) is written without spaces."""
    if name not in SEGMENTERS:
        raise UsageError(f"--segmenter must be one of {', '.join(SEGMENTERS)}, got {name!r}")
    if name == "icu":
        _word_breaker()
    elif name in _OPTIONAL:
        {"kiwi": _kiwi, "fugashi": _mecab}[name]()
    if name not in ("icu", "whitespace"):
        from xlaug.transforms.langcodes import to_iso1
        needed = {to_iso1(c) for c in langs if c} & UNSPACED_LANGS
        if name == "fugashi":
            needed -= {"ja"}  # MeCab segments Japanese; ICU only for the other scripts
        if needed:
            _word_breaker()


def _missing(what: str) -> UsageError:
    return UsageError(f"{what} needs ICU (the icu4py package): pip install 'xlaug[{EXTRA}]' "
                      f"(or --segmenter whitespace to split on spaces only)")


@lru_cache(maxsize=None)
def _word_breaker():
    try:
        from icu4py.breakers import WordBreaker
    except ImportError:
        raise _missing("word segmentation of Chinese/Japanese/Thai/Lao/Khmer/Burmese text") from None
    return WordBreaker


def _icu_words(run: str) -> list[str]:
    # Locale "und": ICU picks the dictionary by script, not by locale.
    return [w for w in _word_breaker()(run, "und") if not w.isspace()]


def _optional_missing(name: str) -> UsageError:
    lib, extra, what = _OPTIONAL[name]
    return UsageError(f"--segmenter {name} ({what}) needs {lib}: pip install 'xlaug[{extra}]'")


@lru_cache(maxsize=None)
def _kiwi():
    try:
        from kiwipiepy import Kiwi
    except ImportError:
        raise _optional_missing("kiwi") from None
    return Kiwi()


@lru_cache(maxsize=None)
def _mecab():
    try:
        import fugashi
        import unidic_lite  # noqa: F401  (the dictionary fugashi finds by itself)
    except ImportError:
        raise _optional_missing("fugashi") from None
    return fugashi.Tagger()


_HANGUL = re.compile("([\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]+)")
_KANA_HAN = re.compile("[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f\u3005-\u3007\u3400-\u4dbf\u4e00-\u9fff]")


def _kiwi_morphemes(run: str) -> list[str]:
    """A Hangul run cut where kiwipiepy's morphemes start.  Kiwi restores
    contracted forms (했 -> 하 + 았, both on one syllable): pieces that share
    characters stay one piece, so the pieces always join back into ``run``."""
    cuts = sorted({t.start for t in _kiwi().tokenize(run) if 0 < t.start < len(run)})
    return [run[a:b] for a, b in zip([0] + cuts, cuts + [len(run)])]


def segment_words(text: str, segmenter: str = "auto") -> tuple[str, ...]:
    """Words and single punctuation marks of ``text``."""
    if segmenter == "kiwi":
        out: list[str] = []
        for i, part in enumerate(_HANGUL.split(text)):
            if i % 2:
                out.extend(_kiwi_morphemes(part))
            elif part.strip():
                out.extend(segment_words(part, "auto"))
        return tuple(out)
    if segmenter == "whitespace" or not needs_segmentation(text):
        if segmenter == "icu":
            _word_breaker()
        elif segmenter == "fugashi":
            _mecab()
        return tuple(_spaced_words(text))
    if segmenter not in SEGMENTERS:
        raise UsageError(f"segmenter must be one of {', '.join(SEGMENTERS)}, got {segmenter!r}")
    out = []
    for i, part in enumerate(_RUN.split(text)):
        if i % 2:       # odd parts are the unspaced-script runs
            if segmenter == "fugashi" and _KANA_HAN.search(part):
                out.extend(w.surface for w in _mecab()(part))
            else:
                out.extend(_icu_words(part))
        elif part:
            out.extend(_spaced_words(part))
    return tuple(out)


def join_tokens(tokens) -> str:
    """Text from tokens: a space between two tokens unless both sides of the
    gap are letters or marks of unspaced scripts (中文 stays 中文, Latin words
    keep their spaces, and so does a Latin word next to a Chinese one:
    ``I saw 北京大学 and``); full-width punctuation (，。「」) takes none."""
    parts: list[str] = []
    prev = ""
    for tok in tokens:
        if not tok:
            continue
        tight = (_TIGHT.match(prev[-1]) and _TIGHT.match(tok[0])) if parts else True
        if not (tight or _TIGHT_PUNCT.match(prev[-1]) or _TIGHT_PUNCT.match(tok[0])):
            parts.append(" ")
        parts.append(tok)
        prev = tok
    return "".join(parts)


@lru_cache(maxsize=None)
def _sentence_breaker():
    try:
        from icu4py.breakers import SentenceBreaker
    except ImportError:
        return None
    return SentenceBreaker


_FALLBACK_SPLIT = re.compile(r"(?<=[.!?\u3002\uff01\uff1f\u0964\u104b\u17d4])\s*")


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text`` by ICU's sentence break (。！？ and the marks of
    every script; "Mr." and the like do not end an English sentence).
    Without ICU installed: after . ! ? and their CJK/Burmese/Khmer forms."""
    text = text.strip()
    if not text:
        return []
    breaker = _sentence_breaker()
    if breaker is None:
        parts = _FALLBACK_SPLIT.split(text)
    else:
        parts = list(breaker(text, "en@ss=standard"))
    return [p.strip() for p in parts if p.strip()]
