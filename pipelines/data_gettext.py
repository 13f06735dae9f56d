"""``xlaug data gettext``: parallel text from gettext catalogs (.po files).

Reads .po files, folders and wheels (e.g. ``pip download --no-deps django
sphinx -d wheels/``: Django ships catalogs for ~100 languages, Sphinx for 70),
keeps the catalogs of --locale (default: --tgt-lang), and writes
'source ||| target' pairs, tokenized, the input of ``xlaug align fit``,
``xlaug dict induce`` and ``xlaug eval align``; a second file gives each
pair's id (catalog:line).  Every message left out is counted by reason.
"""
from __future__ import annotations

import os
import sys

from xlaug.pipelines.options import Option, integer, lang_code, path, segmenter_option, text
from xlaug.transforms.errors import UsageError

HELP = "parallel text from gettext catalogs (.po files, folders, wheels)"
DESCRIPTION = __doc__

OPTIONS = (
    Option("input", path, short="-i", required=True, repeat=True, metavar="PATH",
           help=".po file, folder or wheel/zip holding catalogs (repeatable)"),
    Option("src-lang", lang_code, "en", metavar="L", help="language of the msgid side"),
    Option("tgt-lang", lang_code, required=True, metavar="L", help="language of the catalogs to read"),
    Option("locale", text, repeat=True, metavar="CODE",
           help="catalog locale(s) to read, as their folders name them (e.g. zh_Hans, zh_CN, pt_BR); "
                "default: --tgt-lang"),
    Option("min-words", integer(min=1), 3, help="leave out messages with fewer source words"),
    segmenter_option(),
    Option("output", path, short="-o", required=True, metavar="FILE", help="pairs file to write"),
    Option("ids", path, metavar="FILE", help="ids file, one per pair (default: OUTPUT.ids)"),
    Option("overwrite", flag=True, help="replace existing output files"),
)


def main(o) -> int:
    from xlaug.transforms.gettext import REASONS, extract_pairs
    ids_path = o.ids or o.output + ".ids"
    for p in (o.output, ids_path):
        if os.path.exists(p) and not o.overwrite:
            raise UsageError(f"{p}: exists (--overwrite replaces it)")
    locales = o.locale or [o.tgt_lang]
    got = extract_pairs(o.input, locales, min_words=o.min_words, segmenter=o.segmenter)
    if not got.catalogs:
        raise UsageError(f"no catalog of locale {', '.join(locales)} in {', '.join(o.input)} "
                         "(catalogs are found by their locale/<code>/LC_MESSAGES/ folder or Language header)")
    if not got.pairs:
        raise UsageError(f"{len(got.catalogs)} catalog(s), {got.read} messages, none kept "
                         f"({_reasons(got.skipped, REASONS)})")
    for p, lines in ((o.output, (" ".join(s) + " ||| " + " ".join(t) for s, t in got.pairs)), (ids_path, got.ids)):
        os.makedirs(os.path.dirname(os.path.abspath(p)), exist_ok=True)
        tmp = p + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            for line in lines:
                f.write(line + "\n")
        os.replace(tmp, p)
    print(f"catalogs={len(got.catalogs)} read={got.read} kept={got.kept} skipped={got.read - got.kept} "
          f"({_reasons(got.skipped, REASONS)})", file=sys.stderr)
    print(o.output)
    return 0


def _reasons(skipped: dict, order) -> str:
    return ", ".join(f"{r} {skipped[r]}" for r in order if skipped.get(r)) or "none"
