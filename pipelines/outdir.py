"""The output folder of a run: written in a temporary area, published at the end.

    OUT/.xlaug-run/          hidden: datasets.load_dataset never looks inside
        run.json             what the run was (options, input files): --resume checks it
        units/NNNNN/         finished parts of the work (see pipelines/units.py)
        out/                 data/, rejected/, _stats/, report/, README.md as written

``publish`` moves out/ into OUT: rejected/, report/, _stats/, then the card
README.md (it names every data file, so a card whose data is not all there
does not load), then data/, then report.json last, the mark of a finished
run; then the temporary area goes.  Locally each move is a rename; on
gs:// and other object stores it is a copy, so the card-first order is what
keeps a half-copied output from loading.

An output folder with xlaug's files but no report.json is unfinished: a run
onto it stops and says so, unless --resume (finish it) or --overwrite.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil

from xlaug.transforms import storage
from xlaug.transforms.errors import UsageError

TMP = ".xlaug-run"
# What a run publishes into its output folder (and removes again when it fails).
OUTPUTS = ("data", "rejected", "report", "_stats", "report.json", "README.md")
PUBLISH_ORDER = ("rejected", "report", "_stats", "README.md", "data", "report.json")
# Options that change how a run goes, not what it makes: --resume ignores them.
NOT_FINGERPRINTED = {"resume", "overwrite", "quiet", "runner", "workers", "beam_args", "dry_run",
                     "config", "dataflow_gpu"}


class Plan:
    """Where a run writes (``stage``) and publishes (``final``)."""

    def __init__(self, final: str, created: bool, resumed: bool):
        self.final = final
        self.tmp = storage.join(final, TMP)
        self.stage = storage.join(self.tmp, "out")
        self.units = storage.join(self.tmp, "units")
        self.created = created      # this run made the output folder
        self.resumed = resumed      # --resume found an unfinished run


def _entries(out: str) -> set[str]:
    """Top-level names in ``out`` (remote: first path parts below the prefix)."""
    if not storage.is_remote(out):
        return set(os.listdir(out)) if os.path.isdir(out) else set()
    prefix = out.rstrip("/") + "/"
    return {p[len(prefix):].split("/", 1)[0] for p in storage.listing(out)}


def _check_local_folder(out: str) -> None:
    if os.path.isfile(out):
        raise UsageError(f"{out}: exists and is a file; --output needs a folder")
    parent = os.path.dirname(os.path.abspath(out))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise UsageError(f"{out}: cannot make the output folder there, {parent} is a file")


def check(args) -> None:
    """The checks of ``prepare``, changing nothing (a dry run)."""
    prepare(args, {}, dry=True)


def prepare(args, fingerprint: dict, dry: bool = False) -> Plan | None:
    """Check the output folder against --overwrite/--resume, make the
    temporary area and record ``fingerprint`` there; one-line UsageError
    when the folder cannot be used."""
    out = args.output.rstrip("/") if storage.is_remote(args.output) else args.output
    resume, overwrite = bool(getattr(args, "resume", False)), bool(args.overwrite)
    if resume and overwrite:
        raise UsageError("--resume and --overwrite: choose one (finish the unfinished run, or start again)")
    remote = storage.is_remote(out)
    try:
        if remote:
            storage.check_bucket(out)
        else:
            _check_local_folder(out)
        names = _entries(out)
    except storage.StorageError as e:
        raise UsageError(str(e)) from None
    existed = not remote and os.path.isdir(out)
    ours = names & (set(OUTPUTS) | {TMP})
    finished = "report.json" in names
    resumed = False
    if names and not overwrite:
        if finished:
            raise UsageError(f"{out}: holds a finished run (report.json)"
                             + (": nothing to resume" if resume else "")
                             + "; pass --overwrite to replace it")
        if not ours:
            raise UsageError(f"{out}: folder exists and is not empty (pass --overwrite to replace it)")
        if not resume:
            raise UsageError(f"{out}: holds an unfinished run (no report.json): pass --resume to finish it "
                             "with the same command, or --overwrite to start again")
        resumed = TMP in names  # else only leftovers of a publish: nothing to resume from, start again
        if resumed and not dry:
            _check_fingerprint(out, fingerprint)
    if dry:
        return None
    if resumed:
        _remove(out, OUTPUTS)  # a publish cut short: published again at the end
    elif names:
        _remove(out, OUTPUTS + (TMP,))
    if not remote:
        try:
            os.makedirs(out, exist_ok=True)
        except OSError as e:
            raise UsageError(f"{out}: cannot make the output folder: {e.strerror}") from None
        if not os.access(out, os.W_OK | os.X_OK):
            raise UsageError(f"{out}: the output folder is not writable")
        out = os.path.abspath(out)
    plan = Plan(out, created=not existed and not remote, resumed=resumed)
    if not resumed:
        storage.write_text(storage.join(plan.tmp, "run.json"), json.dumps(fingerprint, indent=1, sort_keys=True))
    return plan


def _check_fingerprint(out: str, now: dict) -> None:
    path = storage.join(out, TMP, "run.json")
    try:
        then = json.loads(storage.read_text(path))
    except (OSError, ValueError, storage.StorageError):
        raise UsageError(f"{out}: the unfinished run left no readable record of its options ({TMP}/run.json): "
                         "pass --overwrite to start again") from None
    why = difference(then, now)
    if why:
        raise UsageError(f"--resume: {why} ({out}); run the same command, or --overwrite to start again")


def difference(then: dict, now: dict) -> str | None:
    """The first difference between two fingerprints, in words."""
    if then.get("command") != now.get("command"):
        return f"the unfinished run was run {then.get('command')}, this is run {now.get('command')}"
    a, b = then.get("options", {}), now.get("options", {})
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            return (f"--{key.replace('_', '-')} was {_short(a.get(key))} in the unfinished run, "
                    f"now {_short(b.get(key))}")
    fa, fb = then.get("inputs", []), now.get("inputs", [])
    names_a, names_b = [f["path"] for f in fa], [f["path"] for f in fb]
    if names_a != names_b:
        gone = [p for p in names_a if p not in names_b]
        new = [p for p in names_b if p not in names_a]
        if new:
            return (f"the input now includes {new[0]}" + (f" and {len(new) - 1} more file(s)" if len(new) > 1 else "")
                    + ", unlike the unfinished run")
        if gone:
            return f"the input no longer includes {gone[0]}, unlike the unfinished run"
        return "the input files come in another order than in the unfinished run"
    for x, y in zip(fa, fb):
        if x != y:
            return f"input {y['path']} changed since the unfinished run (size or modification time)"
    return None


def _short(value) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def fingerprint(command: str, args, files: list[str]) -> dict:
    """What makes a run's output: its command, options and input files (with
    size and modification time), as plain JSON."""
    options = {k: _plain(v, (id(args),)) for k, v in sorted(vars(args).items())
               if k not in NOT_FINGERPRINTED and not k.startswith("_")}
    return {"command": command, "options": options, "inputs": [_file_stamp(f) for f in files]}


def _plain(value, seen: tuple = ()):
    """JSON of an option value; a run chain step's options hold the chain's
    own (which hold the steps again): each is expanded once."""
    if isinstance(value, argparse.Namespace):
        if id(value) in seen:
            return "..."
        value, seen = ({k: v for k, v in vars(value).items() if k not in NOT_FINGERPRINTED and not k.startswith("_")},
                       seen + (id(value),))
    if isinstance(value, dict):
        return {str(k): _plain(v, seen) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_plain(v, seen) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    name = getattr(value, "__name__", None)  # a module or function: its name
    return name if isinstance(name, str) else re.sub(r" at 0x[0-9a-f]+", "", str(value))


def _file_stamp(path: str) -> dict:
    if not storage.is_remote(path):
        try:
            st = os.stat(path)
            return {"path": path, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
        except OSError:
            return {"path": path}
    try:
        from apache_beam.io.filesystems import FileSystems
        meta = FileSystems.match([path])[0].metadata_list[0]
        return {"path": path, "size": meta.size_in_bytes, "mtime": meta.last_updated_in_seconds}
    except Exception:  # noqa: BLE001 - a stamp is best effort; reading it again reports the problem
        return {"path": path}


def publish(plan: Plan) -> None:
    """Move the finished outputs from the temporary area into the output
    folder, report.json last, then remove the temporary area."""
    have = _entries(plan.stage)
    for name in PUBLISH_ORDER:
        if name in have:
            _move(storage.join(plan.stage, name), storage.join(plan.final, name))
    discard(plan)


def _move(src: str, dst: str) -> None:
    if not storage.is_remote(src):
        os.replace(src, dst)
        return
    from apache_beam.io.filesystems import FileSystems
    files = storage.listing(src) if not storage.exists(src) else [src]
    prefix = src.rstrip("/")
    FileSystems.rename(files, [dst.rstrip("/") + f[len(prefix):] for f in files])


def remove_stage(plan: Plan) -> None:
    """Empty ``plan.stage`` (what a killed run wrote there is written again)."""
    if storage.is_remote(plan.stage):
        storage.delete(storage.listing(plan.stage))
    else:
        shutil.rmtree(plan.stage, ignore_errors=True)


def discard(plan: Plan) -> None:
    """Remove the temporary area."""
    _remove(plan.final, (TMP,))


def clean_failed(plan: Plan) -> None:
    """A run that failed leaves nothing: its outputs, its temporary area, and
    the output folder itself when the run made it."""
    _remove(plan.final, OUTPUTS + (TMP,))
    if plan.created and os.path.isdir(plan.final) and not os.listdir(plan.final):
        os.rmdir(plan.final)


def _remove(out: str, names) -> None:
    if storage.is_remote(out):
        prefix = out.rstrip("/") + "/"
        storage.delete([p for p in storage.listing(out) if p[len(prefix):].split("/", 1)[0] in names])
        return
    for name in names:
        p = os.path.join(out, name)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p, ignore_errors=True)
        elif os.path.lexists(p):
            os.remove(p)
