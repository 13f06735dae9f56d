"""``xlaug dict induce``: a bilingual lexicon from word-aligned parallel text.

Aligns the pairs with the project's aligner, counts how often each word pair
is linked (punctuation and numbers skipped), and keeps pairs seen at least
``--min-count`` times whose conditional probability p(tgt | src) =
links(src, tgt) / links(src) reaches ``--min-prob``.  Writes
``src<TAB>tgt<TAB>weight`` (weight = link count) under a header saying how
it was built.  Plain batched Python: no Beam needed for a lexicon.
"""
from __future__ import annotations

import os
import sys

HELP = "induce a bilingual lexicon from parallel text with the word aligner"
DESCRIPTION = (HELP + ". Input: TSV 'src<TAB>tgt', pipes 'src ||| tgt', or two sentence-parallel "
               "CoNLL files (--pairs SRC.conll --target TGT.conll). Output: src<TAB>tgt<TAB>count.")


def add_arguments(p) -> None:
    p.add_argument("--pairs", required=True, help="parallel text (or the src CoNLL file)")
    p.add_argument("--target", help="tgt CoNLL file for --format conll-pair")
    p.add_argument("--format", choices=["auto", "tsv", "pipes", "conll-pair", "jsonl"], default="auto",
                   help="input format; auto: conll-pair with --target, jsonl for *.jsonl, pipes when "
                        "' ||| ' is seen, else tsv.  jsonl: xlaug records; their links are used as they are")
    p.add_argument("--model", required=True, help="encoder for the aligner (hub id or local directory)")
    p.add_argument("--layer", type=int, default=8, help="encoder layer the aligner uses")
    p.add_argument("--method", choices=["argmax", "itermax", "match"], default="argmax")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--batch-size", type=int, default=32, help="pairs per aligner call")
    p.add_argument("--min-count", type=int, default=2, help="keep word pairs linked at least this often")
    p.add_argument("--min-prob", type=float, default=0.1, help="floor on p(tgt | src)")
    p.add_argument("--max-per-src", type=int, default=5, help="keep at most this many translations per word")
    p.add_argument("--keep-case", action="store_true", help="do not lowercase words before counting")
    p.add_argument("--limit", type=int, default=None, help="read at most this many pairs")
    p.add_argument("--src-lang", help="source language code (header)")
    p.add_argument("--tgt-lang", help="target language code (header)")
    p.add_argument("--note", action="append", default=[], help="a header line (source, licence); repeatable")
    p.add_argument("--out", required=True, help="lexicon file to write")
    p.add_argument("--save-alignments", metavar="JSONL",
                   help="also write the aligned pairs as xlaug records (JSONL), to reuse the links")


def read_pairs(path: str, fmt: str = "auto", target: str | None = None, limit: int | None = None):
    """Yield (loc, src_tokens, tgt_tokens, links or None) through the
    pipeline's readers; malformed input raises CliError(file:line: problem)."""
    from xlaug.pipelines.cli import CliError
    from xlaug.transforms.readers import InputError, InputSpec, guess_format, read_strict
    for f in (path, target):
        if f is not None and not os.path.isfile(f):
            raise CliError(f"{f}: file not found")
    if fmt == "conll-pair" and not target:
        raise CliError("--format conll-pair needs --target TGT.conll")
    formats = {"tsv": "tsv", "pipes": "tsv", "conll-pair": "conll", "jsonl": "jsonl"}
    reader_fmt = guess_format(path, target) if fmt == "auto" else formats[fmt]
    if reader_fmt == "text":  # dict induce reads pairs: a line without a separator is an error
        reader_fmt = "tsv"
    spec = InputSpec(reader_fmt, path, target=target, tag_scheme="any", limit=limit,
                     target_format="conll" if reader_fmt == "conll" else None)
    try:
        for r in read_strict(spec):
            src, tgt = r.tokens("src"), r.tokens("tgt")
            if not src or not tgt:
                raise CliError(f"{r.loc}: record {r.id} is not a pair (needs src and tgt tokens)")
            yield r.loc, list(src), list(tgt), (tuple(r.alignment) if r.alignment else None)
    except InputError as e:
        raise CliError(str(e)) from None


def count_links(pairs, alignments, lowercase: bool = True):
    """pair_counts[(s, t)], src_counts[s] (links per source word) and
    forms[t]: the spellings seen of each (lowercased) target word, so the
    lexicon can write the usual one (German nouns keep their capital)."""
    from collections import Counter
    from xlaug.transforms.mixing import is_neutral
    pair_counts, src_counts, forms = Counter(), Counter(), {}
    for (src, tgt), links in zip(pairs, alignments):
        for i, j in links:
            s, t = src[i], tgt[j]
            if is_neutral(s) or is_neutral(t):
                continue
            surface = t
            if lowercase:
                s, t = s.lower(), t.lower()
            forms.setdefault(t, Counter())[surface] += 1
            pair_counts[(s, t)] += 1
            src_counts[s] += 1
    return pair_counts, src_counts, forms


def select_entries(pair_counts, src_counts, min_count: int, min_prob: float, max_per_src: int,
                   forms=None):
    """[(src, tgt, count)] sorted by src, then count (desc), then tgt; tgt
    written in its most frequent spelling when ``forms`` is given."""
    by_src: dict[str, list[tuple[int, str]]] = {}
    for (s, t), c in pair_counts.items():
        if c >= min_count and c / src_counts[s] >= min_prob:
            by_src.setdefault(s, []).append((c, t))
    out = []
    for s in sorted(by_src):
        for c, t in sorted(by_src[s], key=lambda x: (-x[0], x[1]))[:max_per_src]:
            if forms and t in forms:
                t = min(forms[t].items(), key=lambda f: (-f[1], f[0]))[0]
            out.append((s, t, c))
    return out


def _home(path: str) -> str:
    """Write paths under $HOME as ~/..., so the header reads the same for everyone."""
    home = os.path.expanduser("~")
    return "~" + path[len(home):] if path.startswith(home + os.sep) else path


def command_line(args) -> str:
    parts = ["xlaug dict induce", f"--pairs {args.pairs}"]
    if args.target:
        parts.append(f"--target {args.target}")
    parts += [f"--format {args.format}", f"--model {_home(args.model)}", f"--layer {args.layer}",
              f"--method {args.method}", f"--min-count {args.min_count}", f"--min-prob {args.min_prob}",
              f"--max-per-src {args.max_per_src}"]
    if args.keep_case:
        parts.append("--keep-case")
    if args.limit:
        parts.append(f"--limit {args.limit}")
    for flag in ("src_lang", "tgt_lang"):
        if getattr(args, flag):
            parts.append(f"--{flag.replace('_', '-')} {getattr(args, flag)}")
    parts.append(f"--out {args.out}")
    return " ".join(parts)


def main(args) -> int:
    from xlaug.pipelines.cli import CliError
    if args.min_count < 1 or not 0.0 <= args.min_prob <= 1.0 or args.batch_size < 1:
        raise CliError("--min-count and --batch-size must be >= 1, --min-prob in [0, 1]")
    from xlaug.transforms.models import require_model
    require_model(args.model, "--model")
    from xlaug.transforms.align import WordAligner

    aligner = WordAligner(args.model, layer=args.layer, method=args.method,
                          device=args.device, threads=args.threads, batch_size=args.batch_size)
    pairs, alignments, failed = [], [], 0
    batch, locs = [], []
    saved = open(args.save_alignments, "w", encoding="utf-8") if args.save_alignments else None

    def flush():
        nonlocal failed
        for (s, t), loc, a in zip(batch, locs, aligner.align(batch)):
            if a.error:
                failed += 1
                print(f"{loc}: not aligned: {a.error}", file=sys.stderr)
                continue
            pairs.append((s, t))
            alignments.append(a.links)
            if saved:
                from xlaug.transforms.record import Record
                saved.write(Record(id=str(len(pairs)), src_lang=args.src_lang, tgt_lang=args.tgt_lang,
                                   src_tokens=tuple(s), tgt_tokens=tuple(t), alignment=a.links,
                                   loc=loc).to_json() + "\n")
        batch.clear()
        locs.clear()

    for loc, src, tgt, links in read_pairs(args.pairs, args.format, args.target, args.limit):
        if links is not None:  # already aligned: counted as it is
            pairs.append((src, tgt))
            alignments.append(links)
            continue
        batch.append((src, tgt))
        locs.append(loc)
        if len(batch) >= args.batch_size:
            flush()
            if sys.stderr.isatty():
                print(f"aligned {len(pairs) + failed} pairs", file=sys.stderr, end="\r")
    if batch:
        flush()
    if saved:
        saved.close()
    pair_counts, src_counts, forms = count_links(pairs, alignments, lowercase=not args.keep_case)
    entries = select_entries(pair_counts, src_counts, args.min_count, args.min_prob, args.max_per_src,
                             forms)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        if args.src_lang and args.tgt_lang:
            f.write(f"# langs: {args.src_lang}-{args.tgt_lang}\n")
        for note in args.note:
            f.write(f"# {note}\n")
        f.write(f"# built by: {command_line(args)}\n")
        f.write(f"# from {len(pairs)} aligned pairs ({failed} failed to align), "
                f"{sum(pair_counts.values())} word links; {len(entries)} entries\n")
        f.write("# columns: src<TAB>tgt<TAB>weight; weight = link count, "
                "p(tgt|src) = weight / links of src\n")
        for s, t, c in entries:
            f.write(f"{s}\t{t}\t{c}\n")
    print(f"wrote {len(entries)} entries from {len(pairs)} pairs to {args.out}"
          + (f" ({failed} pairs failed to align)" if failed else ""), file=sys.stderr)
    return 0
