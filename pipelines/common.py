"""What every ``xlaug run`` command shares: input, output and runner options,
and ``run_pipeline``, which reads the input, applies the stages, writes the
dataset, the rejected records and the report.

Light at import time: Beam is imported inside the functions.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import time

from xlaug.pipelines.options import Option, choice, integer, lang_code, path, text
from xlaug.transforms.errors import UsageError as CliError

OUTPUT_FORMATS = ("parquet", "jsonl")
EXPORTS = ("ner", "pos", "mt", "text", "records")  # transforms/export.py (kept light here)
# --export default per command (project and chain: see export_kind).
EXPORT_DEFAULTS = {"filter": "records", "backtranslate": "mt", "align": "records",
                   "project": "ner (pos with --tag-scheme any)", "codeswitch": "text",
                   "chain": "its last step's other than filter"}
INPUT_FORMATS = ("auto", "text", "tsv", "parallel", "conll", "jsonl", "hf")


def tag_scheme(value) -> str:
    if value == "pos":
        raise ValueError("'pos' is now 'any' (per-token tags such as POS, projected token by token)")
    return choice("bio", "any")(value)


def gpu_spec(value) -> str:
    spec = text(value).strip()
    if not re.match(r"^[a-z0-9-]+(:[1-9][0-9]*)?$", spec):
        raise ValueError(f"expected an accelerator type and count such as nvidia-tesla-t4:1, got {spec!r}")
    return spec


INPUT_OPTIONS = (
    Option("input", path, short="-i", required=True, repeat=True, metavar="FILE", group="input",
           help="corpus file, or a glob (quote it); repeat for several; local, gs://, s3:// or any "
                "Beam filesystem; .gz/.bz2/.zst read by extension (or a saved Hugging Face dataset "
                "folder / Parquet file)"),
    Option("target", path, metavar="FILE", group="input",
           help="the other side, line-aligned with --input (parallel text or CoNLL)"),
    Option("input-format", choice(*INPUT_FORMATS), "auto", group="input",
           help="auto: by extension/content; tsv also reads 'src ||| tgt' lines"),
    Option("src-lang", lang_code, metavar="L", group="input", help="language code of --input (e.g. en)"),
    Option("tgt-lang", lang_code, metavar="L", group="input", help="language code of the other side (e.g. de)"),
    Option("tag-scheme", tag_scheme, "bio", metavar="{bio,any}", group="input",
           help="bio: labels are BIO spans (NER): a sequence that is not valid BIO is rejected on read, "
                "and projection carries spans; any: per-token tags (POS ...), projected token by token"),
    Option("fix-bio", flag=True, group="input",
           help="repair I-X that starts an entity into B-X instead of rejecting the sentence"),
    Option("limit", integer(min=1), metavar="N", group="input", help="read only the first N input items"),
    Option("config", path, metavar="FILE", group="input",
           help="YAML file of option values, option names as keys (the command line wins)"),
)

OUTPUT_OPTIONS = (
    Option("output", path, short="-o", required=True, metavar="DIR", group="output", help="output folder"),
    Option("output-format", choice(*OUTPUT_FORMATS), "parquet", group="output"),
    Option("splits", text, "train=1.0", group="output",
           help="named splits by deterministic hash of the id, e.g. train=0.9,validation=0.05,test=0.05"),
    Option("shards", integer(min=0), 0, group="output", help="files per split (0: the runner decides)"),
    Option("seed", integer(), 0, group="output", help="seed for every random choice"),
    Option("overwrite", flag=True, group="output", help="replace an existing output folder"),
    Option("resume", flag=True, group="output",
           help="finish an interrupted run into the same --output: the same command again, plus "
                "--resume; parts already finished (input files, local runners) are not redone"),
    Option("export", choice(*EXPORTS), metavar="{" + ",".join(EXPORTS) + "}", group="output",
           help="columns of the dataset: ner/pos (tokens, ner_tags/pos_tags as ClassLabel, langs), "
                "mt (translation dict), text (text, langs), records (xlaug's full record); "
                "default per command: " + ", ".join(f"{c} {k}" for c, k in EXPORT_DEFAULTS.items())),
    Option("labels", path, metavar="FILE", group="output",
           help="ner/pos: the label order of an existing model (a model folder or config.json with id2label, "
                "a JSON list, or one label a line); records with other labels are rejected"),
)

RUNNER_GROUP = "runner (Beam pipeline options pass through, e.g. --project)"
RUNNER_OPTIONS = (
    Option("runner", text, "local", group=RUNNER_GROUP,
           help="local (in-process), multiprocess, portable (LOOPBACK), dataflow, "
                "or any Beam runner name (FlinkRunner, SparkRunner, ...)"),
    Option("workers", integer(min=0), 0, group=RUNNER_GROUP,
           help="worker processes for local runners (0: default)"),
    Option("quiet", flag=True, group=RUNNER_GROUP,
           help="no progress line and no warnings on stderr (progress shows only on a terminal anyway)"),
    Option("dataflow-gpu", gpu_spec, metavar="TYPE[:COUNT]", group=RUNNER_GROUP,
           help="dataflow: GPU workers, e.g. nvidia-tesla-t4:1 (installs the driver, one process per VM)"),
    Option("dry-run", flag=True, group=RUNNER_GROUP,
           help="dataflow: build the complete job (graph, pickled stages and models' handlers, worker "
                "options) through Beam's own dry run, print a summary, submit nothing"),
)

# Every `xlaug run` command takes these; `run chain` shares them between its steps.
SHARED_OPTIONS = INPUT_OPTIONS + OUTPUT_OPTIONS + RUNNER_OPTIONS


def check_languages(src: str | None, tgt: str | None) -> None:
    """Two codes of the same language cannot make a cross-lingual pair."""
    from xlaug.transforms.langcodes import to_iso1
    if src and tgt and to_iso1(src) == to_iso1(tgt):
        raise CliError(f"--src-lang {src} and --tgt-lang {tgt} are the same language: "
                       "give the code of each side")


def input_specs(args) -> list:
    """One InputSpec per input file (globs expanded, several --input allowed),
    all checked before any work: one line naming the first path that cannot be read."""
    from xlaug.transforms import storage
    from xlaug.transforms.readers import InputError, InputSpec, check_input, guess_format, unreadable

    patterns = args.input if isinstance(args.input, (list, tuple)) else [args.input]
    try:
        files = storage.expand(patterns)
        target = storage.match(args.target)[0] if args.target else None
    except storage.StorageError as e:
        raise CliError(str(e)) from None
    if target and len(files) > 1:
        raise CliError(f"--target pairs with one --input file; {', '.join(patterns)} names {len(files)}")
    names = _id_names(files)
    specs = []
    for f in files:
        fmt = args.input_format
        try:
            if fmt == "auto":
                try:
                    fmt = guess_format(f, target)
                except (InputError, storage.StorageError):
                    raise
                except Exception as e:  # noqa: BLE001 - a broken compressed file
                    raise InputError(unreadable(f, e)) from None
            spec = InputSpec(format=fmt, path=f, target=target, src_lang=args.src_lang,
                             tgt_lang=args.tgt_lang, tag_scheme=args.tag_scheme, fix_bio=args.fix_bio,
                             limit=args.limit, name=names[f])
            check_input(spec)
        except (InputError, storage.StorageError) as e:
            raise CliError(str(e)) from None
        specs.append(spec)
    return specs


def _id_names(files: list[str]) -> dict:
    """The file part of record ids: the file name (less .gz etc.), or, when
    two inputs share a name, the path below their common folder."""
    from xlaug.transforms import storage
    base = {f: storage.basename(storage.plain_name(f)) for f in files}
    if len(set(base.values())) == len(files):
        return base
    common = os.path.commonpath([f.split("://", 1)[-1] for f in files]) if len(files) > 1 else ""
    return {f: storage.plain_name(f.split("://", 1)[-1])[len(common):].lstrip("/") for f in files}


def input_spec(args):
    """The single input of a run (kept for callers that take one file)."""
    return input_specs(args)[0]


def prepare_output(args, fingerprint: dict | None = None):
    """Check and make the output folder with its temporary area
    (pipelines/outdir.py); one-line CliError when it cannot be used."""
    from xlaug.pipelines import outdir
    return outdir.prepare(args, fingerprint or {})


def run_pipeline(args: argparse.Namespace, stages: list, *, command: str) -> dict:
    """Read args.input, apply ``stages`` in order (each a
    ``xlaug.transforms.stage.Step``, run by ApplyStep), write args.output;
    returns the report.

    Raises CliError on bad input before any work is done, and when the run
    keeps no record (no dataset is written then; the rejected records and the
    report are).  The run writes into a temporary area of the output folder
    and publishes at the end, report.json last (pipelines/outdir.py): a run
    that fails leaves nothing behind; one that is interrupted (Ctrl-C, or
    killed) leaves its temporary area for --resume, and no dataset."""
    from xlaug.pipelines import outdir
    from xlaug.pipelines.interrupt import Interrupted, abandon
    claimed: dict = {}
    try:
        report = _run_pipeline(args, stages, command=command, claimed=claimed)
    except KeyboardInterrupt:
        abandon()
        plan = claimed.get("plan")
        raise Interrupted("interrupted" + (
            f"; the unfinished run is kept in {plan.tmp}: the same command with --resume finishes it"
            if plan else "")) from None
    except BaseException as e:
        if claimed.get("plan"):
            outdir.clean_failed(claimed["plan"])
        if isinstance(e, CliError) and claimed:
            # Raised on a worker (e.g. an unreadable input found mid-run): one line.
            raise CliError(str(e).split(" [while running")[0].splitlines()[0]) from None
        raise
    if report.get("dry_run"):
        return report
    if not report["kept"]:
        raise CliError(f"nothing kept: all {report['read'] + report.get('created', 0)} records were "
                       f"rejected, so no dataset was written (why: {claimed['plan'].final}/rejected, report.json)")
    return report


def export_kind(args: argparse.Namespace, command: str) -> str:
    """--export, else the command's default (chain: its last step's)."""
    if getattr(args, "export", None):
        return args.export
    if command == "chain":  # the last step that makes data decides; filter keeps what came in
        steps = [(name, ns) for name, _, ns in getattr(args, "parsed_steps", None) or []]
        makers = [(name, ns) for name, ns in steps if name != "filter"] or steps
        return export_kind(makers[-1][1], makers[-1][0]) if makers else "records"
    if command == "project":
        return "ner" if getattr(args, "tag_scheme", "bio") == "bio" else "pos"
    return EXPORT_DEFAULTS.get(command, "records")


def export_plan(args: argparse.Namespace, command: str):
    """(kind, labels from --labels or None), checked before any work."""
    from xlaug.transforms.export import read_label_file
    kind = export_kind(args, command)
    labels = None
    if getattr(args, "labels", None):
        if kind not in ("ner", "pos"):
            raise CliError(f"--labels applies to --export ner or pos, not {kind}")
        labels = read_label_file(args.labels)
    return kind, labels


def _run_pipeline(args: argparse.Namespace, stages: list, *, command: str, claimed: dict) -> dict:
    import apache_beam as beam

    from operator import itemgetter

    from xlaug.pipelines.parts import local_count, plan_parts, run_parts
    from xlaug.runners import pipeline_options
    from xlaug.transforms.apply import ApplyStep, StageOutput
    from xlaug.transforms.io import ReadCorpus, WriteDataset, parse_splits
    from xlaug.transforms.ledger import account
    from xlaug.transforms.report import build_report
    from xlaug.transforms.spill import Spilled
    from xlaug.transforms.stage import check_steps
    from xlaug.transforms.stats import CollectStats

    specs = input_specs(args)
    try:
        splits = parse_splits(args.splits)
    except ValueError as e:
        raise CliError(f"--splits: {e}") from None
    kind, labels = export_plan(args, command)
    if kind != "records":  # the last stage: what the export cannot hold is rejected, with a reason
        from xlaug.transforms.export import ExportStep
        stages = list(stages) + [ExportStep(kind, labels)]
    dry_run = getattr(args, "dry_run", False)
    if dry_run and args.runner != "dataflow":
        raise CliError("--dry-run builds a Dataflow job: it needs --runner dataflow")
    # A dry run writes nothing: the output is only checked (bucket, emptiness).
    if dry_run:
        out_dir = args.output.rstrip("/")
        if "://" in out_dir:
            from xlaug.pipelines import outdir
            outdir.check(args)
    else:
        from xlaug.pipelines import outdir
        stamp = outdir.fingerprint(command, args, [s.path for s in specs] + ([specs[0].target] if specs[0].target else []))
        sizes = {f["path"]: f.get("size") for f in stamp["inputs"]}
        plan = claimed["plan"] = outdir.prepare(args, stamp)
        out_dir = plan.stage
    options = pipeline_options(args)

    check_steps(stages)
    score_ranges, thresholds, units = {}, {}, {}
    for st in stages:
        units.update(st.score_units)
        score_ranges.update(st.score_ranges)
        thresholds.update(st.thresholds)
    names = [st.name for st in stages]

    started = time.time()
    spread = not (args.runner == "local" and not args.workers)
    parts = None if dry_run else plan_parts(specs, args, sizes)
    carried = None
    from xlaug.pipelines.progress import Progress, collect_metrics
    quiet(args)
    show = Progress(args, ["read"] + names)
    metrics: dict = {}
    with show:
        if parts:  # the first stages part by part, each finished part kept for --resume
            n_local = local_count(stages)
            show.part(0, len(parts))
            folders, wiring, order = run_parts(parts, stages[:n_local], plan, options, spread=spread,
                                               on_part=lambda k: show.part(k, len(parts)), metrics=metrics)
        if not dry_run and plan.resumed:
            _clear_stage(plan)
        p = beam.Pipeline(options=options)
        with _finished(p, dry_run) as p:
            if parts:
                from xlaug.transforms.checkpoint import ReadCheckpoints
                kept, rejected, table = p | ReadCheckpoints(folders)
                done = ["read"] + [st.name for st in stages[:n_local]]
                by_stage = rejected | "Stage of rejected" >> beam.Partition(lambda r, n: r[0], len(done))
                outputs = [(name, StageOutput(None, part | f"Rejected {name}" >> beam.Map(itemgetter(1))))
                           for name, part in zip(done, by_stage)]
                carried = (table, wiring, order)
                todo, books, current = stages[n_local:], [], kept
            else:
                read = p | ReadCorpus(specs, spread=spread)
                outputs = [("read", read)]
                books = [("read", None, read)]  # (name, input, output) for the identity check
                todo, current = stages, read.kept
            for st in todo:
                out = current | ApplyStep(st)
                outputs.append((st.name, out))
                books.append((st.name, current, out))
                current = out.kept
                if st.report_key and out.context is not None:  # e.g. sampling's language shares
                    _write_json(out.context, f"{out_dir}/_stats/{st.report_key}.json", f"{st.name} context")
            # Spilled: on the local runners, rejected records wait in local files,
            # not in the driver, until the last stage that rejects has run.
            rejected = tuple(o.rejected for _, o in outputs) | Spilled("All rejected")
            split_counts = (current, rejected) | WriteDataset(
                out_dir, splits=splits, seed=args.seed, fmt=args.output_format,
                score_names=score_ranges.keys(), shards=args.shards,
                export=kind, langs=(args.src_lang, args.tgt_lang))
            if kind in ("ner", "pos") and labels is None:  # the names come from the data
                from xlaug.transforms.export import CollectLabels
                current | CollectLabels(f"{out_dir}/_stats/labels.json")
            (current, rejected, split_counts, account(books, carried)) | CollectStats(
                f"{out_dir}/_stats/stats.json", outputs, score_ranges)
        collect_metrics(p.result, metrics)
    seconds = time.time() - started
    if dry_run:
        from xlaug.runners.dataflow import job_summary
        print(job_summary(p.result, options, ["read"] + names, seconds))
        return {"dry_run": True, "kept": None, "stages": ["read"] + names}

    from xlaug.transforms import storage
    # The Beam counters of every pipeline of this run (parts and main), by stage.
    storage.write_text(storage.join(out_dir, "_stats", "metrics.json"), json.dumps(metrics, indent=1, sort_keys=True))
    argv = [a for a in sys.argv if a != "--resume"]  # the dataset is what the command without it makes
    report = build_report(out_dir, command=command, argv=argv, spec=specs, stage_names=["read"] + names,
                          thresholds=thresholds, splits=list(splits), seconds=seconds,
                          output_format=args.output_format, runner=args.runner,
                          extra={**export_info(out_dir, kind, labels, args, score_ranges.keys()),
                                 "stage_models": stage_models(stages),
                                 **({"score_units": units} if units else {})})
    if not report["kept"]:
        _remove_dataset(out_dir)
    outdir.publish(plan)
    print_summary(report, plan.final)
    return report


def quiet(args) -> None:
    """--quiet: no warnings on stderr (Beam's, the workers', Python's); errors still show."""
    if not getattr(args, "quiet", False):
        return
    import logging
    import warnings
    logging.getLogger().setLevel(logging.ERROR)
    warnings.simplefilter("ignore")
    os.environ["PYTHONWARNINGS"] = "ignore"  # worker processes


def stage_models(stages) -> dict:
    """{stage: the model it uses, in words} for the summary and the report."""
    out = {}
    for st in stages:
        spec = None
        if hasattr(st, "model_spec"):
            try:
                spec = st.model_spec()
            except NotImplementedError:
                spec = None
        if spec:
            parts = []
            for key in ("forward", "back"):  # translation: the model each way
                if spec.get(key):
                    parts.append(f"{spec[key]['model']} ({spec[key].get('src_lang')}->{spec[key].get('tgt_lang')})")
            if spec.get("model"):
                extra = ", ".join(f"{k} {spec[k]}" for k in ("layer", "method") if spec.get(k) is not None)
                parts.append(str(spec["model"]) + (f" ({extra})" if extra else ""))
            out[st.name] = "; ".join(parts)
        elif any(type(f).__name__ == "LangIdFilter" for f in getattr(st, "filters", ())):
            out[st.name] = "langid.py (built-in language-ID model); rule-based scores"
        else:
            out[st.name] = "no model (rules)"
    return out


def export_info(out_dir: str, kind: str, labels, args, score_names) -> dict:
    """The report's (and card's) account of the export: columns and label names."""
    import json

    from xlaug.transforms.export import features_yaml, label_names
    info = {"export": kind}
    if kind == "records":
        return info
    names = None
    if kind in ("ner", "pos"):
        if labels is not None:
            names = list(labels)
        else:
            from xlaug.transforms.report import _read
            try:
                found = json.loads(_read(f"{out_dir}/_stats/labels.json"))
            except (OSError, ValueError):
                found = []
            names = label_names(found, kind)
        info["label_names"] = names
    score_names = sorted(score_names) if kind == "mt" else ()
    info["features"] = features_yaml(kind, names, args.src_lang, args.tgt_lang, score_names)
    return info


class _finished:
    """``with beam.Pipeline() as p`` that keeps the result (a dry run's job)."""

    def __init__(self, pipeline, dry_run: bool):
        self.pipeline, self.dry_run = pipeline, dry_run

    def __enter__(self):
        return self.pipeline

    def __exit__(self, exc_type, *rest):
        if exc_type is None:
            self.pipeline.result = run_to_end(self.pipeline)
        return False


def run_to_end(pipeline):
    """Run ``pipeline`` to its end, shielded from Ctrl-C (pipelines/interrupt.py)."""
    from xlaug.pipelines.interrupt import run_shielded
    from xlaug.transforms.spill import release
    try:
        return run_shielded(_run_and_wait, pipeline)
    finally:
        release(pipeline)  # its spilled data (kept while a bundle might be retried)


def _run_and_wait(pipeline):
    result = pipeline.run()
    result.wait_until_finish()
    return result


def _clear_stage(plan) -> None:
    """What a killed run wrote after its parts: written again."""
    from xlaug.pipelines import outdir
    outdir.remove_stage(plan)


def _remove_dataset(out_dir: str) -> None:
    """An empty dataset is no dataset: ``load_dataset`` cannot open one, so
    neither the data folder nor its card stay."""
    if "://" in out_dir:
        from xlaug.transforms import storage
        prefix = out_dir.rstrip("/") + "/"
        storage.delete([p for p in storage.listing(out_dir)
                        if p[len(prefix):].split("/", 1)[0] in ("data", "README.md")])
        return
    shutil.rmtree(os.path.join(out_dir, "data"), ignore_errors=True)
    if os.path.exists(os.path.join(out_dir, "README.md")):
        os.remove(os.path.join(out_dir, "README.md"))


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
    for name, model in (report.get("stage_models") or {}).items():
        print(f"  stage {name:<14} {model}")
    for reason, n in sorted(report["rejected_by_reason"].items(), key=lambda kv: -kv[1]):
        print(f"  rejected {n:>7}  {reason}")
    for lang, s in sorted((report.get("sampling") or {}).items()):
        print(f"  sampling {lang}: {s['n']} records, share {s['share_before']:.3f} -> {s['share_after']:.3f}")
    if report["kept"]:
        export = report.get("export", "records")
        columns = {"ner": "tokens, ner_tags, langs", "pos": "tokens, pos_tags, langs", "mt": "translation",
                   "text": "text, langs"}.get(export, "xlaug records")
        print(f"dataset:  {out_dir}/data  (datasets.load_dataset('{out_dir}'); --export {export}: {columns})")
        if report.get("label_names"):
            print(f"labels:   {', '.join(report['label_names'])}")
    print(f"rejected: {out_dir}/rejected")
    print(f"report:   {out_dir}/report.json, {out_dir}/report/"
          + (f", card {out_dir}/README.md" if report["kept"] else ""))
