"""``xlaug dict induce``: a bilingual lexicon from word-aligned parallel text.

Reading, counting and selecting are library functions
(xlaug.dictionaries.induce); this module is the command line around them.
Writes ``src<TAB>tgt<TAB>weight`` (weight = link count) under a header saying
how it was built.
"""
from __future__ import annotations

import os
import sys

from xlaug.dictionaries.induce import FORMATS
from xlaug.pipelines.align_args import align_options
from xlaug.pipelines.options import Option, choice, integer, lang_code, number, path

HELP = "induce a bilingual lexicon from parallel text with the word aligner"
DESCRIPTION = (HELP + ". Input: TSV 'src<TAB>tgt', pipes 'src ||| tgt', or two sentence-parallel "
               "CoNLL files (--pairs SRC.conll --target TGT.conll). Output: src<TAB>tgt<TAB>count.")

OPTIONS = (
    Option("pairs", path, required=True, metavar="FILE", help="parallel text (or the src CoNLL file)"),
    Option("target", path, metavar="FILE", help="tgt CoNLL file for --format conll-pair"),
    Option("format", choice(*FORMATS), "auto",
           help="input format; auto: conll-pair with --target, jsonl for *.jsonl, pipes when "
                "' ||| ' is seen, else tsv.  jsonl: xlaug records; their links are used as they are"),
    Option("min-count", integer(min=1), 2, help="keep word pairs linked at least this often"),
    Option("min-prob", number(min=0.0, max=1.0), 0.1, help="floor on p(tgt | src)"),
    Option("max-per-src", integer(min=1), 5, help="keep at most this many translations per word"),
    Option("keep-case", flag=True, help="do not lowercase words before counting"),
    Option("limit", integer(min=1), help="read at most this many pairs"),
    Option("src-lang", lang_code, help="source language code (header)"),
    Option("tgt-lang", lang_code, help="target language code (header)"),
    Option("note", repeat=True, help="a header line (source, licence); repeatable"),
    Option("out", path, required=True, metavar="FILE", help="lexicon file to write"),
    Option("overwrite", flag=True, help="replace --out when it exists"),
    Option("save-alignments", path, metavar="JSONL",
           help="also write the aligned pairs as xlaug records (JSONL), to reuse the links"),
) + align_options("align", required=True, old={
    "align-model": ("model",), "align-batch-size": ("batch-size",), "align-device": ("device",),
    "align-threads": ("threads",)})


def _home(path: str) -> str:
    """Write paths under $HOME as ~/..., so the header reads the same for everyone."""
    home = os.path.expanduser("~")
    return "~" + path[len(home):] if path.startswith(home + os.sep) else path


def command_line(o) -> str:
    parts = ["xlaug dict induce", f"--pairs {o.pairs}"]
    if o.target:
        parts.append(f"--target {o.target}")
    parts += [f"--format {o.format}", f"--align-model {_home(o.align_model)}", f"--align-layer {o.align_layer}",
              f"--align-method {o.align_method}", f"--min-count {o.min_count}", f"--min-prob {o.min_prob}",
              f"--max-per-src {o.max_per_src}"]
    if o.keep_case:
        parts.append("--keep-case")
    if o.limit:
        parts.append(f"--limit {o.limit}")
    for flag in ("src_lang", "tgt_lang"):
        if getattr(o, flag):
            parts.append(f"--{flag.replace('_', '-')} {getattr(o, flag)}")
    parts.append(f"--out {o.out}")
    return " ".join(parts)


def check_out(path: str, overwrite: bool, option: str) -> None:
    from xlaug.transforms.errors import UsageError
    if os.path.isdir(path):
        raise UsageError(f"{option} {path}: is a folder; give a file name")
    if os.path.exists(path) and not overwrite:
        raise UsageError(f"{option} {path}: exists (pass --overwrite to replace it)")


def main(o) -> int:
    from xlaug.dictionaries.induce import induce, read_pairs, write_lexicon
    from xlaug.pipelines.align_args import aligner_kwargs, check_aligner
    from xlaug.pipelines.common import check_languages

    check_languages(o.src_lang, o.tgt_lang)
    check_out(o.out, o.overwrite, "--out")
    if o.save_alignments:
        check_out(o.save_alignments, o.overwrite, "--save-alignments")
    items = read_pairs(o.pairs, o.format, o.target, o.limit)
    first = next(items, None)  # bad input stops here, before the model loads
    if first is None:
        from xlaug.transforms.errors import UsageError
        raise UsageError(f"{o.pairs}: no pairs")
    check_aligner(o)
    from xlaug.transforms.align import WordAligner
    from xlaug.transforms.record import Record

    aligner = WordAligner(o.align_model, **aligner_kwargs(o))
    saved = open(o.save_alignments, "w", encoding="utf-8") if o.save_alignments else None
    count = 0

    def aligned(loc, src, tgt, links):
        nonlocal count
        count += 1
        if saved:
            saved.write(Record(id=str(count), src_lang=o.src_lang, tgt_lang=o.tgt_lang, src_tokens=tuple(src),
                               tgt_tokens=tuple(tgt), alignment=links, loc=loc).to_json() + "\n")
        if sys.stderr.isatty() and count % 100 == 0:
            print(f"aligned {count} pairs", file=sys.stderr, end="\r")

    def failed(loc, a):
        print(f"{loc}: not aligned: {a.error}", file=sys.stderr)

    def all_items():
        if first is not None:
            yield first
        yield from items

    try:
        result = induce(all_items(), aligner, min_count=o.min_count, min_prob=o.min_prob,
                        max_per_src=o.max_per_src, lowercase=not o.keep_case, batch_size=o.align_batch_size,
                        on_aligned=aligned, on_failed=failed)
    finally:
        if saved:
            saved.close()
    header = ([f"langs: {o.src_lang}-{o.tgt_lang}"] if o.src_lang and o.tgt_lang else []) + list(o.note) + [
        f"built by: {command_line(o)}",
        f"from {result.pairs} aligned pairs ({result.failed} failed to align), "
        f"{result.links} word links; {len(result.entries)} entries",
        "columns: src<TAB>tgt<TAB>weight; weight = link count, p(tgt|src) = weight / links of src"]
    write_lexicon(o.out, result.entries, header)
    print(f"wrote {len(result.entries)} entries from {result.pairs} pairs to {o.out}"
          + (f" ({result.failed} pairs failed to align)" if result.failed else ""), file=sys.stderr)
    return 0
