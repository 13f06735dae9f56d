"""What every ``xlaug run`` command shares: input, output and runner options,
and ``run_pipeline``, which reads the input, applies the stages, writes the
dataset, the rejected records and the report.

Light at import time: Beam is imported inside the functions.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time

from xlaug.pipelines.cli import CliError

OUTPUT_FORMATS = ("parquet", "jsonl")


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("input")
    g.add_argument("--input", "-i", required=True, metavar="FILE",
                   help="corpus file (or a saved Hugging Face dataset folder / Parquet file)")
    g.add_argument("--target", metavar="FILE",
                   help="the other side, line-aligned with --input (parallel text or CoNLL)")
    g.add_argument("--input-format", default="auto",
                   choices=("auto", "text", "tsv", "parallel", "conll", "jsonl", "hf"),
                   help="auto: by extension/content; tsv also reads 'src ||| tgt' lines")
    g.add_argument("--src-lang", metavar="L", help="language code of --input (e.g. en)")
    g.add_argument("--tgt-lang", metavar="L", help="language code of the other side (e.g. de)")
    g.add_argument("--tag-scheme", default="bio", choices=("bio", "any"),
                   help="bio: reject label sequences that are not valid BIO; any: POS or other tags")
    g.add_argument("--fix-bio", action="store_true",
                   help="repair I-X that starts an entity into B-X instead of rejecting the sentence")
    g.add_argument("--limit", type=int, metavar="N", help="read only the first N input items")
    g.add_argument("--config", metavar="FILE", help="YAML file of option values (command line wins)")


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("output")
    g.add_argument("--output", "-o", required=True, metavar="DIR", help="output folder")
    g.add_argument("--output-format", default="parquet", choices=OUTPUT_FORMATS)
    g.add_argument("--splits", default="train=1.0",
                   help="named splits by deterministic hash of the id, e.g. train=0.9,validation=0.05,test=0.05")
    g.add_argument("--shards", type=int, default=0, help="files per split (0: the runner decides)")
    g.add_argument("--seed", type=int, default=0, help="seed for every random choice")
    g.add_argument("--overwrite", action="store_true", help="replace an existing output folder")


def add_runner_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("runner (other Beam pipeline options pass through, e.g. --project)")
    g.add_argument("--runner", default="local",
                   help="local (in-process), multiprocess, portable (LOOPBACK), dataflow, "
                        "or any Beam runner name (FlinkRunner, SparkRunner, ...)")
    g.add_argument("--workers", type=int, default=0, help="worker processes for local runners (0: default)")
    g.add_argument("--dataflow-gpu", metavar="TYPE[:COUNT]",
                   help="dataflow: GPU workers, e.g. nvidia-tesla-t4:1 (installs the driver, one process per VM)")


def input_spec(args):
    from xlaug.transforms.readers import InputError, InputSpec, check_input, guess_format

    if not os.path.exists(args.input):
        raise CliError(f"{args.input}: no such file or directory")
    fmt = args.input_format
    if fmt == "auto":
        fmt = guess_format(args.input, args.target)
    spec = InputSpec(format=fmt, path=args.input, target=args.target, src_lang=args.src_lang,
                     tgt_lang=args.tgt_lang, tag_scheme=args.tag_scheme, fix_bio=args.fix_bio,
                     limit=args.limit)
    try:
        check_input(spec)
    except InputError as e:
        raise CliError(str(e)) from None
    return spec


def prepare_output(args) -> str:
    out = args.output
    if "://" in out:
        return out
    if os.path.isfile(out):
        raise CliError(f"{out}: exists and is a file; --output needs a folder")
    if os.path.isdir(out) and os.listdir(out):
        if not args.overwrite:
            raise CliError(f"{out}: folder exists and is not empty (pass --overwrite to replace it)")
        for name in ("data", "rejected", "report", "_stats", "report.json", "README.md"):
            p = os.path.join(out, name)
            if os.path.isdir(p):
                shutil.rmtree(p)
            elif os.path.exists(p):
                os.remove(p)
    os.makedirs(out, exist_ok=True)
    return os.path.abspath(out)


def run_pipeline(args: argparse.Namespace, stages: list, *, command: str) -> dict:
    """Read args.input, apply ``stages`` in order (each a PTransform with a
    ``name`` returning StageOutput), write args.output; returns the report.
    Raises CliError on bad input before any work is done."""
    import apache_beam as beam

    from xlaug.runners import pipeline_options
    from xlaug.transforms.io import ReadCorpus, WriteDataset, parse_splits
    from xlaug.transforms.ledger import account
    from xlaug.transforms.report import build_report
    from xlaug.transforms.stage import stage_meta
    from xlaug.transforms.stats import CollectStats

    spec = input_spec(args)
    try:
        splits = parse_splits(args.splits)
    except ValueError as e:
        raise CliError(f"--splits: {e}") from None
    out_dir = prepare_output(args)
    options = pipeline_options(args)

    score_ranges, thresholds, names = {}, {}, []
    for st in stages:
        name, ranges, th = stage_meta(st)
        score_ranges.update(ranges)
        thresholds.update(th)
        names.append(name)
    if len(set(names)) != len(names):
        raise CliError(f"stage names must be unique, got {names}")

    started = time.time()
    with beam.Pipeline(options=options) as p:
        read = p | ReadCorpus([spec], spread=not (args.runner == "local" and not args.workers))
        outputs = [("read", read)]
        books = [("read", None, read)]  # (name, input, output) for the identity check
        current = read.kept
        for st in stages:
            out = current | st
            outputs.append((stage_meta(st)[0], out))
            books.append((stage_meta(st)[0], current, out))
            current = out.kept
            shares = getattr(st, "shares", None)  # the sampling stage's language shares
            if shares is not None:
                _write_json(shares, f"{out_dir}/_stats/sampling.json", f"{stage_meta(st)[0]} shares")
        rejected = [o.rejected for _, o in outputs] | "All rejected" >> beam.Flatten()
        split_counts = (current, rejected) | WriteDataset(
            out_dir, splits=splits, seed=args.seed, fmt=args.output_format,
            score_names=score_ranges.keys(), shards=args.shards)
        (current, rejected, split_counts, account(books)) | CollectStats(
            f"{out_dir}/_stats/stats.json", outputs, score_ranges)
    seconds = time.time() - started

    report = build_report(out_dir, command=command, argv=sys.argv, spec=spec, stage_names=["read"] + names,
                          thresholds=thresholds, splits=list(splits), seconds=seconds,
                          output_format=args.output_format, runner=args.runner)
    print_summary(report, out_dir)
    return report


def _write_json(pcoll, path: str, label: str) -> None:
    import json

    import apache_beam as beam
    from apache_beam.io import WriteToText
    (pcoll | f"{label} json" >> beam.Map(lambda v: json.dumps(v, sort_keys=True))
     | f"{label} write" >> WriteToText(path, num_shards=1, shard_name_template=""))


def print_summary(report: dict, out_dir: str) -> None:
    ok = "ok" if report["identity_ok"] else "MISMATCH"
    print(f"read {report['read']}, kept {report['kept']}, rejected {report['rejected']}"
          + (f", created {report['created']}" if report["created"] else "")
          + f" (identity {ok}) in {report['seconds']:.1f}s")
    if report.get("error"):
        print(f"error: {report['error']}", file=sys.stderr)
    for reason, n in sorted(report["rejected_by_reason"].items(), key=lambda kv: -kv[1]):
        print(f"  rejected {n:>7}  {reason}")
    for lang, s in sorted((report.get("sampling") or {}).items()):
        print(f"  sampling {lang}: {s['n']} records, share {s['share_before']:.3f} -> {s['share_after']:.3f}")
    print(f"dataset:  {out_dir}/data  (datasets.load_dataset('{out_dir}'))")
    print(f"rejected: {out_dir}/rejected")
    print(f"report:   {out_dir}/report.json, {out_dir}/report/, card {out_dir}/README.md")
