"""Parallel text from gettext catalogs (.po files), as package registries ship them.

Software translated with gettext carries its translations as ``msgid`` (the
source text, English in most projects) and ``msgstr`` (one language) pairs:
Django's wheel on PyPI has catalogs for about 100 languages, Sphinx's for 70.
Those are human translations with a plain licence, enough for
``xlaug align fit`` and for small dev sets in languages no gold data covers.

``extract_pairs`` reads .po files, folders and wheels/zips (the catalogs
inside them), keeps the messages that are plain text on both sides and says
why every other message was left out: kept + skipped == read.
"""
from __future__ import annotations

import ast
import os
import re
import zipfile
from dataclasses import dataclass, field

from xlaug.transforms.errors import UsageError

# Skip reasons, in the order they are checked.
REASONS = ("header", "obsolete", "fuzzy", "plural", "untranslated", "multiline", "placeholder", "markup",
           "same_text", "too_short", "duplicate")

# printf (%s, %(name)s, %.2f), brace ({0}, {name}) and shell-style (${x}) placeholders: left out
# rather than rewritten, since a rewritten placeholder aligns to nothing real.
_PLACEHOLDER = re.compile(r"%(\([^)]*\))?[-#0 +]*\d*(\.\d+)?[sdifuxXeEgGcr]|\{[^{}\s]*\}|\$\{[^}]*\}")
_MARKUP = re.compile(r"<[A-Za-z/!][^>]*>|&[A-Za-z]+;|&#\d+;")
_LOCALE_DIR = re.compile(r"(?:^|/)([^/]+)/LC_MESSAGES/[^/]+\.po$")
_KEYWORD = re.compile(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?)\s+(.*?)\s*$')


@dataclass
class Message:
    msgid: str
    msgstr: str
    line: int                 # line of ``msgid`` (1-based)
    fuzzy: bool = False
    obsolete: bool = False
    plural: bool = False


@dataclass
class Extracted:
    """Kept pairs (tokenized, in input order) with their ids, and the counts."""
    pairs: list = field(default_factory=list)        # (src_tokens, tgt_tokens)
    ids: list = field(default_factory=list)          # "source:line" of each pair
    read: int = 0
    skipped: dict = field(default_factory=dict)      # reason -> count
    catalogs: list = field(default_factory=list)     # (source, locale, messages read)

    @property
    def kept(self) -> int:
        return len(self.pairs)


def normalize_locale(code: str) -> str:
    return code.strip().replace("-", "_").lower()


def _unquote(token: str, where: str) -> str:
    try:
        value = ast.literal_eval(token)
    except (ValueError, SyntaxError):
        value = None
    if not isinstance(value, str):
        raise UsageError(f"{where}: not a quoted PO string: {token[:60]}")
    return value


def parse_po(text: str, source: str) -> list[Message]:
    """Every message of a catalog (header and obsolete ones included), in order.
    A line that is no comment, keyword or string continuation stops with
    ``source:line``."""
    out: list[Message] = []
    cur: dict | None = None
    last = None                # the field a continuation string extends
    flags_fuzzy = False

    def finish():
        nonlocal cur, last, flags_fuzzy
        if cur is not None and "msgid" in cur:
            strs = [v for k, v in sorted(cur.items()) if k.startswith("msgstr")]
            if not strs:
                raise UsageError(f"{source}:{cur['line']}: msgid without msgstr")
            out.append(Message(cur["msgid"], strs[0], cur["line"], fuzzy=cur.get("fuzzy", False),
                               obsolete=cur.get("obsolete", False), plural="msgid_plural" in cur))
        cur, last, flags_fuzzy = None, None, False

    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        obsolete = line.startswith("#~")
        if obsolete:
            line = line[2:].strip()
            if not line or line.startswith(("#", "|")):   # "#~|": an obsolete entry's previous msgid
                continue
        elif not line:
            finish()
            continue
        elif line.startswith("#"):
            if cur is not None and any(k.startswith("msgstr") for k in cur):
                finish()       # comments start the next entry
            if line.startswith("#,") and "fuzzy" in line[2:].replace(",", " ").split():
                flags_fuzzy = True
            continue
        where = f"{source}:{lineno}"
        m = _KEYWORD.match(line)
        if m:
            key, value = m.group(1), _unquote(m.group(2), where)
            if cur is not None and key in ("msgid", "msgctxt") and any(k.startswith("msgstr") for k in cur):
                finish()       # the next entry, with no blank line or comment between
            if cur is None:
                cur, flags_fuzzy = {"fuzzy": flags_fuzzy}, False
            if key == "msgid":
                cur["line"] = lineno
            if obsolete:
                cur["obsolete"] = True
            cur[key] = value
            last = key
        elif line.startswith('"'):
            if cur is None or last is None:
                raise UsageError(f"{where}: a string continuation outside an entry")
            cur[last] += _unquote(line, where)
        else:
            raise UsageError(f"{where}: not a PO line (expected a comment, msgid, msgstr or a quoted string): "
                             f"{line[:60]}")
    finish()
    return out


def catalog_locale(name: str, text: str) -> str | None:
    """The locale of a catalog: its folder (<code>/LC_MESSAGES/, gettext's layout) or else its
    Language header (headers are copied between catalogs and go stale: Superset's Polish catalog
    says fr)."""
    m = _LOCALE_DIR.search(name.replace(os.sep, "/"))
    if m:
        return normalize_locale(m.group(1))
    h = re.search(r'^"Language:\s*([^\\"]+)', text, re.M)
    return normalize_locale(h.group(1)) if h else None


def _catalogs(path: str):
    """(source name, text) of each .po file that ``path`` holds, sorted by name."""
    if os.path.isdir(path):
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                if name.endswith((".po", ".whl", ".zip")):
                    yield from _catalogs(os.path.join(root, name))
        return
    if not os.path.exists(path):
        raise UsageError(f"{path}: no such file or directory")
    if path.endswith((".whl", ".zip")):
        try:
            with zipfile.ZipFile(path) as z:
                for name in sorted(n for n in z.namelist() if n.endswith(".po")):
                    yield f"{path}!{name}", _decode(z.read(name), f"{path}!{name}")
        except zipfile.BadZipFile:
            raise UsageError(f"{path}: not a zip archive (a wheel is one)") from None
        return
    if not path.endswith(".po"):
        raise UsageError(f"{path}: expected a .po file, a folder or a wheel/zip holding .po files")
    yield path, _read(path)


def _read(path: str) -> str:
    with open(path, "rb") as f:
        return _decode(f.read(), path)


def _decode(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise UsageError(f"{where}:{line}: not UTF-8 (xlaug reads UTF-8 catalogs only)") from None


def clean(msg: Message, min_words: int, tokenize) -> tuple[str, tuple, tuple] | tuple[str, None, None]:
    """(reason, None, None) for a message left out, else ("", src_tokens, tgt_tokens)."""
    if msg.msgid == "":
        return "header", None, None
    for reason, hit in (("obsolete", msg.obsolete), ("fuzzy", msg.fuzzy), ("plural", msg.plural),
                        ("untranslated", not msg.msgstr.strip())):
        if hit:
            return reason, None, None
    src, tgt = msg.msgid, msg.msgstr
    if "\n" in src.strip() or "\n" in tgt.strip():
        return "multiline", None, None
    if _PLACEHOLDER.search(src) or _PLACEHOLDER.search(tgt):
        return "placeholder", None, None
    if _MARKUP.search(src) or _MARKUP.search(tgt):
        return "markup", None, None
    if src.strip() == tgt.strip():
        return "same_text", None, None
    s, t = tokenize(src), tokenize(tgt)
    if len(s) < min_words or not t or "|||" in s or "|||" in t:
        return "too_short", None, None
    return "", s, t


def extract_pairs(inputs, locales, *, min_words: int = 3, segmenter: str = "auto") -> Extracted:
    """Pairs (msgid, msgstr) of every catalog in ``inputs`` whose locale is one
    of ``locales`` (e.g. ["de"], ["zh_hans", "zh_cn"]); tokenized like
    ``xlaug run`` tokenizes raw text; exact repeats kept once."""
    from xlaug.transforms.tokenize import simple_tokenize

    wanted = {normalize_locale(c) for c in locales}
    result, seen = Extracted(), set()
    tokenize = lambda s: simple_tokenize(s, segmenter)  # noqa: E731
    for path in inputs:
        for source, text in _catalogs(path):
            locale = catalog_locale(source, text)
            if locale not in wanted:
                continue
            messages = parse_po(text, source)
            result.catalogs.append((source, locale, len(messages)))
            for msg in messages:
                result.read += 1
                reason, s, t = clean(msg, min_words, tokenize)
                if not reason and (s, t) in seen:
                    reason = "duplicate"
                if reason:
                    result.skipped[reason] = result.skipped.get(reason, 0) + 1
                    continue
                seen.add((s, t))
                result.pairs.append((s, t))
                result.ids.append(f"{source}:{msg.line}")
    return result
