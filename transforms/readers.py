"""Corpus readers: plain generators of Records and Rejecteds, no Beam.

Every input line ends up as exactly one Record or one Rejected (blank
separator lines of CoNLL and ``-DOCSTART-`` markers aside), so the report can
check ``kept + rejected == read``.  Lines are read as bytes and decoded one by
one, so a bad byte costs one line, not the file: a line that is not UTF-8 or
holds NUL bytes is rejected (``bad_utf8``, ``nul_bytes``).  A UTF-8 byte order
mark at the start of a file is dropped.  A file that is mostly such lines
(binary data, UTF-16, another encoding) is refused whole by ``check_input``.
"""
from __future__ import annotations

import codecs
import os
from dataclasses import dataclass, field, replace
from typing import Iterator

from xlaug.transforms import bio, storage
from xlaug.transforms.errors import UsageError
from xlaug.transforms.record import Record, RecordError, Rejected

STAGE = "read"
FORMATS = ("text", "tsv", "parallel", "conll", "jsonl", "hf")


class InputError(UsageError):
    """The input cannot be read at all (missing, empty, wrong kind): one line."""


@dataclass(frozen=True)
class InputSpec:
    """What to read; small and picklable, so it travels to Beam workers."""

    format: str
    path: str
    target: str | None = None
    src_lang: str | None = None
    tgt_lang: str | None = None
    tag_scheme: str = "bio"          # bio: check BIO validity; any: accept any tag
    fix_bio: bool = False            # repair I-X after O/other type into B-X instead of rejecting
    limit: int | None = None
    target_format: str | None = None  # conll input: 'conll' (tokens + tags) or 'text' (a sentence a line)
    fields: dict = field(default_factory=dict)  # hf: column overrides (text/tokens/labels/...)
    name: str | None = None          # the file part of ids (default: the file's name, less .gz etc.)
    # A split of one large file (see ``splits``): the lines that start in
    # bytes [start, end); ``lines_before`` is the number of newlines in
    # [0, start), counted on the workers, so ids keep the file's line numbers
    # (for a range that is one part of a run, pipelines/parts.py counts them).
    start: int = 0
    end: int | None = None
    lines_before: int = 0


# Formats with one record a line: a file of these can be split anywhere and
# read by many workers.  Parallel files and CoNLL are read per file (a pair of
# files, or sentences spanning lines); compressed files are read whole.
SPLITTABLE = ("text", "tsv", "jsonl")
MIN_SPLIT, MAX_SPLIT = 256 << 10, 64 << 20
SPLITS = 32  # per file, up to SPLITS x MAX_SPLIT bytes


def split_bytes(size: int) -> int:
    """Bytes per split of a file of ``size`` bytes: 32 equal splits, or 16,
    8, 4, 2 when those would be under MIN_SPLIT; MAX_SPLIT each past 2 GiB
    (XLAUG_SPLIT_BYTES overrides, e.g. to force small splits in tests).  A
    power-of-two count of equal splits shares out evenly over 2, 4, 8...
    workers: the local runner hands each worker an equal number of splits,
    so 19 splits on 2 workers left one with 10 and the run waited for it."""
    forced = os.environ.get("XLAUG_SPLIT_BYTES")
    if forced:
        return max(1, int(forced))
    if size > SPLITS * MAX_SPLIT:
        return MAX_SPLIT
    n = SPLITS
    while n > 1 and size < n * MIN_SPLIT:
        n //= 2
    return max(1, -(-size // n))


def splittable(spec: InputSpec) -> bool:
    return (spec.format in SPLITTABLE and not spec.target and spec.limit is None
            and not storage.is_compressed(spec.path))


def splits(spec: InputSpec, size: int | None = None) -> list[InputSpec]:
    """``spec`` as byte ranges for many workers, or ``[spec]`` when the file
    is small or cannot be split (compressed, paired, CoNLL, a limit)."""
    if not splittable(spec):
        return [spec]
    if spec.end is not None:  # a range of a file (one part of a local run): split inside it
        lo, hi = spec.start, spec.end
    else:
        lo, hi = 0, storage.size(spec.path) if size is None else size
    step = split_bytes(hi - lo)
    if hi - lo <= step:
        return [spec]
    return [replace(spec, start=a, end=min(a + step, hi)) for a in range(lo, hi, step)]


def count_newlines(spec: InputSpec, block: int = 1 << 20) -> int:
    """Newlines in the split's bytes [start, end)."""
    n, left = 0, spec.end - spec.start
    with storage.open_read(spec.path) as f:
        f.seek(spec.start)
        while left > 0:
            data = f.read(min(block, left))
            if not data:
                break
            n += data.count(b"\n")
            left -= len(data)
    return n


def _lines(path: str, spec: InputSpec | None = None) -> Iterator[tuple[int, str | None, bytes]]:
    """(line number, decoded text or None if unreadable (see _problem), raw bytes);
    with a split ``spec``, only the lines that start in its byte range."""
    if spec is None or spec.end is None:
        with storage.open_read(path) as f:
            for n, raw in enumerate(f, 1):
                yield n, *_clean(n, raw)
        return
    with storage.open_read(path) as f:
        n, pos = spec.lines_before + 1, spec.start
        if pos > 0:
            f.seek(pos - 1)
            if f.read(1) != b"\n":  # mid-line: that line belongs to the split before
                pos += len(f.readline())
                n += 1
        while pos < spec.end:
            raw = f.readline()
            if not raw:
                return
            pos += len(raw)
            yield n, *_clean(n, raw)
            n += 1


def _clean(n: int, raw: bytes) -> tuple[str | None, bytes]:
    raw = raw.rstrip(b"\r\n")
    if n == 1 and raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8):]  # an editor's mark, not text
    return _decode(raw), raw


def _decode(raw: bytes) -> str | None:
    if b"\x00" in raw:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _problem(raw: bytes) -> tuple[str, str]:
    """(reason, detail) of a line _decode refused."""
    if b"\x00" in raw:
        return "nul_bytes", "line holds NUL bytes (binary data, or UTF-16 text?)"
    return "bad_utf8", "line is not valid UTF-8"


def _shown(raw: bytes) -> str:
    return raw.decode("utf-8", "backslashreplace").replace("\x00", "\\x00")


def _stem(spec: InputSpec) -> str:
    """File part of ids: stable whether the file is local, remote or compressed."""
    return spec.name or storage.basename(storage.plain_name(spec.path))


def _unreadable(path: str, n: int, raw: bytes) -> Rejected:
    reason, detail = _problem(raw)
    return Rejected(STAGE, reason, detail, loc=f"{path}:{n}", raw=_shown(raw))


def read_text(spec: InputSpec) -> Iterator[Record | Rejected]:
    """One segment a line, in ``src_lang``."""
    name = _stem(spec)
    for n, line, raw in _lines(spec.path, spec):
        loc = f"{spec.path}:{n}"
        if line is None:
            yield _unreadable(spec.path, n, raw)
        elif not line.strip():
            yield Rejected(STAGE, "empty_text", "blank line", loc=loc, raw=line)
        else:
            yield Record(id=f"{name}:{n}", src_lang=spec.src_lang, tgt_lang=spec.tgt_lang,
                         src_text=line.strip(), loc=loc)


def detect_separator(path: str, probe: int = 200) -> str:
    """' ||| ' when the file uses it (the alignment-data convention), else a tab."""
    with storage.open_read(path) as f:
        for i, raw in enumerate(f):
            if b" ||| " in raw:
                return " ||| "
            if i >= probe:
                break
    return "\t"


def read_tsv(spec: InputSpec) -> Iterator[Record | Rejected]:
    """``src<TAB>tgt`` or ``src ||| tgt``, one pair a line."""
    sep = detect_separator(spec.path)
    name = _stem(spec)
    for n, line, raw in _lines(spec.path, spec):
        loc = f"{spec.path}:{n}"
        if line is None:
            yield _unreadable(spec.path, n, raw)
            continue
        if not line.strip():
            yield Rejected(STAGE, "empty_text", "blank line", loc=loc, raw=line)
            continue
        cols = line.split(sep)
        if len(cols) != 2:
            yield Rejected(STAGE, "bad_columns",
                           f"expected 2 columns separated by {sep.strip() or 'TAB'!r}, got {len(cols)}",
                           loc=loc, raw=line)
            continue
        src, tgt = cols[0].strip(), cols[1].strip()
        if not src or not tgt:
            side = "source" if not src else "target"
            yield Rejected(STAGE, "empty_side", f"{side} side is empty", loc=loc, raw=line)
            continue
        yield Record(id=f"{name}:{n}", src_lang=spec.src_lang, tgt_lang=spec.tgt_lang,
                     src_text=src, tgt_text=tgt, loc=loc)


def read_parallel(spec: InputSpec) -> Iterator[Record | Rejected]:
    """Two line-aligned files; lines past the end of the shorter one are rejected."""
    name = _stem(spec)
    a, b = _lines(spec.path), _lines(spec.target)
    while True:
        x, y = next(a, None), next(b, None)
        if x is None and y is None:
            return
        if x is None or y is None:
            n, line, raw = x or y
            which, other = (spec.path, spec.target) if y is None else (spec.target, spec.path)
            yield Rejected(STAGE, "unpaired_line", f"{other} has fewer lines than {which}",
                           loc=f"{which}:{n}", raw=_shown(raw))
            continue
        (n, src, sraw), (_, tgt, traw) = x, y
        loc = f"{spec.path}:{n}"
        if src is None or tgt is None:
            path, raw = (spec.path, sraw) if src is None else (spec.target, traw)
            yield _unreadable(path, n, raw)
            continue
        src, tgt = src.strip(), tgt.strip()
        if not src or not tgt:
            if not src and not tgt:
                yield Rejected(STAGE, "empty_text", "blank line on both sides", loc=loc, raw="")
            else:
                side = "source" if not src else "target"
                yield Rejected(STAGE, "empty_side", f"{side} side is empty", loc=loc,
                               raw=f"{src}\t{tgt}")
            continue
        yield Record(id=f"{name}:{n}", src_lang=spec.src_lang, tgt_lang=spec.tgt_lang,
                     src_text=src, tgt_text=tgt, loc=loc)


def checked_bio(labels, fix: bool) -> tuple[tuple[str, ...], bio.BioProblem | None]:
    """(labels, first problem or None).  With ``fix``, a stray I-X becomes B-X
    (the conlleval reading) instead of a problem; a label that is not BIO
    stays a problem either way."""
    labels = bio.repair(labels)[0] if fix else tuple(labels)
    return labels, bio.problem(labels)


def bio_detail(labels, bad: bio.BioProblem) -> str:
    """The problem and the option that accepts such labels."""
    if bio.is_label(labels[bad.index]):
        return f"{bad}; --fix-bio reads it as the start of a span"
    return f"{bad}; for POS or other tags pass --tag-scheme any"


def _conll_sentences(path: str):
    """(first line number, [(line number, token, tag)], problem, raw) per sentence."""
    rows, first, problem, raw_lines = [], None, None, []
    for n, line, raw in _lines(path):
        if line is None:
            problem = problem or (n, *_problem(raw))
            raw_lines.append(_shown(raw))
            first = first or n
            continue
        if not line.strip():
            if first is not None:
                yield first, rows, problem, raw_lines
            rows, first, problem, raw_lines = [], None, None, []
            continue
        if line.startswith("-DOCSTART-"):
            continue
        first = first or n
        raw_lines.append(line)
        cols = line.split("\t") if "\t" in line else line.split()
        if len(cols) < 2:
            problem = problem or (n, "bad_columns", "expected token<TAB>tag, got one column")
            continue
        rows.append((n, cols[0], cols[-1]))
    if first is not None:
        yield first, rows, problem, raw_lines


def _conll_record(spec, path, first, rows, problem, raw_lines, side):
    loc = f"{path}:{first}"
    if problem:
        n, reason, detail = problem
        return Rejected(STAGE, reason, detail, loc=f"{path}:{n}", raw="\n".join(raw_lines))
    tokens = tuple(r[1] for r in rows)
    labels = tuple(r[2] for r in rows)
    if spec.tag_scheme == "bio":
        labels, bad = checked_bio(labels, spec.fix_bio)
        if bad:
            return Rejected(STAGE, "invalid_bio", bio_detail(labels, bad), loc=f"{path}:{rows[bad.index][0]}",
                            raw="\n".join(raw_lines))
    return tokens, labels, loc


def read_conll(spec: InputSpec) -> Iterator[Record | Rejected]:
    """CoNLL: token<TAB>tag (tag in the last column; extra columns allowed),
    blank line between sentences.  With ``target``, a sentence-parallel pair
    of CoNLL files (sentence k of one is the translation of sentence k)."""
    name = _stem(spec)
    src_iter = _conll_sentences(spec.path)
    if spec.target and conll_target_format(spec) == "text":
        yield from _conll_with_text(spec, name, src_iter)
        return
    tgt_iter = _conll_sentences(spec.target) if spec.target else None
    while True:
        s = next(src_iter, None)
        t = next(tgt_iter, None) if tgt_iter is not None else None
        if s is None and t is None:
            return
        if s is None or (tgt_iter is not None and t is None):
            path, sent = (spec.target, t) if s is None else (spec.path, s)
            other = spec.path if s is None else spec.target
            yield Rejected(STAGE, "unpaired_sentence", f"{other} has fewer sentences",
                           loc=f"{path}:{sent[0]}", raw="\n".join(sent[3]))
            continue
        src = _conll_record(spec, spec.path, *s, "src")
        if isinstance(src, Rejected):
            yield src
            continue
        fields = dict(src_tokens=src[0], src_labels=src[1])
        if t is not None:
            tgt = _conll_record(spec, spec.target, *t, "tgt")
            if isinstance(tgt, Rejected):
                yield tgt
                continue
            fields.update(tgt_tokens=tgt[0], tgt_labels=tgt[1])
        yield Record(id=f"{name}:{s[0]}", src_lang=spec.src_lang, tgt_lang=spec.tgt_lang,
                     loc=src[2], **fields)


def conll_target_format(spec: InputSpec) -> str:
    if spec.target_format:
        return spec.target_format
    return "conll" if spec.target.lower().endswith((".conll", ".conllu", ".bio", ".iob")) else "text"


def _conll_with_text(spec: InputSpec, name: str, src_iter) -> Iterator[Record | Rejected]:
    """Labelled CoNLL sentences paired with a plain-text translation, one
    sentence a line (sentence k <-> line k)."""
    tgt_iter = _lines(spec.target)
    for s in src_iter:
        t = next(tgt_iter, None)
        src = _conll_record(spec, spec.path, *s, "src")
        if t is None:
            yield Rejected(STAGE, "unpaired_sentence", f"{spec.target} has fewer lines than {spec.path} has sentences",
                           loc=f"{spec.path}:{s[0]}", raw="\n".join(s[3]))
            continue
        n, line, raw = t
        if isinstance(src, Rejected):
            yield src
        elif line is None:
            yield _unreadable(spec.target, n, raw)
        elif not line.strip():
            yield Rejected(STAGE, "empty_side", "target side is empty", loc=f"{spec.target}:{n}", raw=line)
        else:
            yield Record(id=f"{name}:{s[0]}", src_lang=spec.src_lang, tgt_lang=spec.tgt_lang, loc=src[2],
                         src_tokens=src[0], src_labels=src[1], tgt_text=line.strip())
    for n, line, raw in tgt_iter:
        yield Rejected(STAGE, "unpaired_line", f"{spec.path} has fewer sentences than {spec.target} has lines",
                       loc=f"{spec.target}:{n}", raw=_shown(raw))


def read_jsonl(spec: InputSpec) -> Iterator[Record | Rejected]:
    """Records in their JSON form, one a line (the JSONL this tool writes)."""
    for n, line, raw in _lines(spec.path, spec):
        loc = f"{spec.path}:{n}"
        if line is None:
            yield _unreadable(spec.path, n, raw)
            continue
        if not line.strip():
            continue  # blank lines in JSONL carry nothing: not a record, not counted
        try:
            rec = Record.from_json(line)
        except RecordError as e:
            yield Rejected(STAGE, "bad_record", str(e), loc=loc, raw=line[:2000])
            continue
        if rec.alignment and rec.tokens("src") is not None and rec.tokens("tgt") is not None:
            n_src, n_tgt = len(rec.tokens("src")), len(rec.tokens("tgt"))
            if any(i >= n_src or j >= n_tgt for i, j in rec.alignment):
                yield Rejected(STAGE, "bad_record", f"record {rec.id} has a link outside its tokens",
                               loc=loc, raw=line[:2000])
                continue
        if spec.src_lang and rec.src_lang is None or spec.tgt_lang and rec.tgt_lang is None:
            rec = rec.replace(src_lang=rec.src_lang or spec.src_lang, tgt_lang=rec.tgt_lang or spec.tgt_lang)
        yield rec if rec.loc else rec.replace(loc=loc)


def read_any(spec: InputSpec) -> Iterator[Record | Rejected]:
    readers = {"text": read_text, "tsv": read_tsv, "parallel": read_parallel,
               "conll": read_conll, "jsonl": read_jsonl}
    if spec.format == "hf":
        from xlaug.transforms.hf_input import read_hf
        it = read_hf(spec)
    else:
        it = readers[spec.format](spec)
    if spec.limit is None:
        yield from it
        return
    for i, item in enumerate(it):
        if i >= spec.limit:
            return
        yield item


def read_strict(spec: InputSpec) -> Iterator[Record]:
    """For tools that need the input whole (evaluations, lexicon induction):
    the same readers, but the first bad item stops with InputError naming
    file:line and the problem.  Blank separator lines are skipped."""
    check_input(spec)
    for item in read_any(spec):
        if isinstance(item, Rejected):
            if item.reason == "empty_text" and not (item.raw or "").strip():
                continue
            raise InputError(f"{item.loc}: {item.detail}")
        yield item


def guess_format(path: str, target: str | None) -> str:
    lower = storage.plain_name(path).lower()
    if (not storage.is_remote(path) and os.path.isdir(path)) or lower.endswith(".parquet"):
        return "hf"
    if lower.endswith((".conll", ".conllu", ".bio", ".iob")):
        return "conll"
    if lower.endswith((".jsonl", ".json")):
        return "jsonl"
    if target:
        return "parallel"
    return "tsv" if _looks_parallel(path) else "text"


def _looks_parallel(path: str) -> bool:
    with storage.open_read(path) as f:
        head = [l for _, l in zip(range(50), f) if l.strip()]
    return bool(head) and sum(b"\t" in l or b" ||| " in l for l in head) >= 0.8 * len(head)


HEAD_BYTES = 1 << 16


def _not_text(head: bytes) -> str | None:
    """Why a file whose first bytes are ``head`` is clearly not UTF-8 text, or None.

    Clearly: a UTF-16/32 byte order mark, NUL bytes making up 1% of the
    bytes, or most lines unreadable.  A few bad lines in a text file are
    rejected one by one instead."""
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "is UTF-32 text; xlaug reads UTF-8 (convert it, e.g. iconv -f UTF-32 -t UTF-8)"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "is UTF-16 text; xlaug reads UTF-8 (convert it, e.g. iconv -f UTF-16 -t UTF-8)"
    lines = head.split(b"\n")
    if len(head) == HEAD_BYTES and len(lines) > 1:
        lines = lines[:-1]  # cut mid-line (and maybe mid-character)
    lines = [l for l in lines if l.strip()]
    bad = sum(_decode(l.rstrip(b"\r")) is None for l in lines)
    if head.count(b"\x00") >= 0.01 * len(head) or (lines and bad > len(lines) / 2):
        what = ("looks like binary data (NUL bytes), not UTF-8 text" if b"\x00" in head
                else "is not UTF-8 text (another encoding? convert it, e.g. with iconv)")
        return f"{what}: {bad} of its first {len(lines)} lines cannot be read"
    return None


def unreadable(path: str, e: BaseException) -> str:
    """One line for a file whose bytes cannot be read (a broken compressed file)."""
    why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return f"{path}: cannot be read: {why}"


def check_input(spec: InputSpec) -> None:
    """Fail fast, before any work, on inputs that cannot be read at all."""
    paths = [spec.path] + ([spec.target] if spec.target else [])
    for p in paths:
        if not storage.exists(p):
            raise InputError(f"{p}: no such file or directory")
        if spec.format == "hf":
            if storage.is_remote(p):
                raise InputError(f"{p}: saved datasets and Parquet files are read from local paths only; "
                                 "copy it here, or give JSONL/TSV/text/CoNLL files")
            from xlaug.transforms.hf_input import dataset_files
            dataset_files(p)  # a folder that holds no dataset stops here
            continue
        if not storage.is_remote(p) and os.path.isdir(p):
            raise InputError(f"{p}: is a directory (use --input-format hf for a saved dataset)")
        try:
            with storage.open_read(p) as f:
                head = f.read(HEAD_BYTES)
        except storage.StorageError:
            raise
        except Exception as e:  # noqa: BLE001 - a broken .gz/.bz2/.zst (zlib.error, OSError, ...)
            raise InputError(unreadable(p, e)) from None
        if not head:
            raise InputError(f"{p}: input file is empty")
        if len(head) < HEAD_BYTES and not head.strip():
            raise InputError(f"{p}: input file holds only blank lines")
        not_text = _not_text(head)
        if not_text:
            raise InputError(f"{p}: {not_text}")
    if spec.format not in FORMATS:
        raise InputError(f"unknown input format {spec.format!r} (known: {', '.join(FORMATS)})")
    if spec.format == "parallel" and not spec.target:
        raise InputError("--input-format parallel needs --target FILE (the aligned other side)")
    if spec.format in ("text", "tsv", "jsonl") and spec.target:
        raise InputError(f"--target is for parallel or conll input, not {spec.format}")
