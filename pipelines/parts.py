"""Local runs of several input files, or of one large one, go in parts, so
that ``--resume`` can skip what a killed run finished.

A part is a few consecutive input files (one each, up to ``MAX_PARTS``
parts), or a byte range of a large line-based file (text, TSV, JSONL of at
least twice ``RANGE_BYTES``).  The stages up to the first one that needs the whole corpus (a
grouped stage such as dedup, or one with a summary such as sampling) run on
each part in a pipeline of its own, which writes a checkpoint
(transforms/checkpoint.py) and then a ``.done`` mark; the rest of the run
reads the checkpoints.  A resumed run skips the parts with a mark: their
input files are not read again.

Why not one pipeline: Beam's local runners run a stage over all its input
before the next one starts, so nothing inside one pipeline is ever
finished for some files only.  On distributed runners a run is one job
(what a part would cost there: a job start each), and ``--resume`` redoes
it.  The cost here: the first stages' output is written and read back once,
and each part's pipeline starts its workers and loads its models again.
"""
from __future__ import annotations

import json
import os

from xlaug.transforms import storage

LOCAL_RUNNERS = ("local", "multiprocess", "portable")
MAX_PARTS = 16
# A part's pipeline costs about 3 s more (measured on 2 busy cores), whether
# or not the run is ever resumed: smaller files are taken together, up to
# this size a part (XLAUG_PART_BYTES).  32 MiB is ~160k TSV pairs, about a
# minute of filtering on 2 cores: the parts add a few percent, and a resume
# redoes at most that much.
PART_BYTES = 32 << 20
# A large line-based file is cut into ranges of at least this size
# (XLAUG_RANGE_BYTES): a part's ~3 s is then well under 1% of its work.
RANGE_BYTES = 256 << 20


def plan_parts(specs: list, args, sizes: dict) -> list[list] | None:
    """The input specs cut into parts: consecutive files (or ranges of a
    large file), each part closed once it holds PART_BYTES (and a 16th of
    the input), or None for a run in one piece.  Files of unknown size count
    as a part each."""
    if args.runner not in LOCAL_RUNNERS:
        return None
    least = int(os.environ.get("XLAUG_PART_BYTES", PART_BYTES))
    total = sum(sizes.get(s.path) or 0 for s in specs)
    least = max(least, -(-total // MAX_PARTS))
    units = [u for spec in specs for u in _ranges(spec, sizes.get(spec.path), least)]
    if len(units) < 2:
        return None
    parts: list[list] = [[]]
    held = 0
    for unit in units:
        if held >= least:
            parts.append([])
            held = 0
        parts[-1].append(unit)
        size = sizes.get(unit.path) if unit.end is None else unit.end - unit.start
        held += least if size is None else size
    return parts if len(parts) > 1 else None


def _ranges(spec, size: int | None, least: int) -> list:
    """A large line-based file as byte ranges of at least ``least`` and
    RANGE_BYTES (so a part never holds two ranges of one file), else [spec]."""
    from dataclasses import replace

    from xlaug.transforms.readers import splittable
    step = max(least, int(os.environ.get("XLAUG_RANGE_BYTES", RANGE_BYTES)))
    if size is None or not splittable(spec) or size < 2 * step:
        return [spec]
    n = size // step
    bounds = [size * i // n for i in range(n + 1)]
    return [replace(spec, start=a, end=b) for a, b in zip(bounds, bounds[1:])]


def local_count(stages: list) -> int:
    """How many leading stages see one record (or batch) at a time."""
    n = 0
    for st in stages:
        if st.grouped or st.summary is not None:
            break
        n += 1
    return n


def run_parts(parts: list[list], stages: list, plan, options, *, spread: bool, on_part=None,
              metrics: dict | None = None) -> tuple:
    """Run ``stages`` on every part without its mark; returns (checkpoint
    folders, ledger wiring, ledger order) for ``ReadCheckpoints``/``account``.
    ``on_part(k)``: k parts are done; ``metrics`` gathers the parts' counters."""
    folders, info = [], None
    lines: dict = {}   # (path, byte offset) -> newlines before it, for ranges' line numbers
    for k, part in enumerate(parts):
        folder = storage.join(plan.units, f"{k:05d}")
        mark = folder + ".done"
        folders.append(folder)
        if storage.exists(mark):
            done = json.loads(storage.read_text(mark))
            info = info or done
            lines.update({(path, end): n for path, end, n in done.get("lines", [])})
            if on_part:
                on_part(k + 1)
            continue
        _clear(folder)
        part = [_numbered(s, lines) for s in part]
        wiring, order = _run_part(part, stages, folder, options, spread, metrics)
        info = {"files": [s.path for s in part], "wiring": wiring, "order": order,
                "lines": [[s.path, s.end, lines[(s.path, s.end)]] for s in part if s.end is not None]}
        storage.write_text(mark, json.dumps(info))  # the part is finished only now
        if on_part:
            on_part(k + 1)
    return folders, info["wiring"], info["order"]


def _numbered(spec, lines: dict):
    """A range with ``lines_before`` set, so its ids keep the file's line
    numbers; counted here in the driver from the range before (known from
    its part) or, failing that, from the file's start.  Notes the newlines
    before the range's end in ``lines``."""
    if spec.end is None:
        return spec
    from dataclasses import replace

    from xlaug.transforms.readers import count_newlines
    before = 0 if spec.start == 0 else lines.get((spec.path, spec.start))
    if before is None:
        before = count_newlines(replace(spec, start=0, end=spec.start))
    lines[(spec.path, spec.end)] = before + count_newlines(spec)
    return replace(spec, lines_before=before)


def _clear(folder: str) -> None:
    """What a killed part left (written again from the start)."""
    if not storage.is_remote(folder):
        import shutil
        shutil.rmtree(folder, ignore_errors=True)
        return
    storage.delete(storage.listing(folder))


def _run_part(specs: list, stages: list, folder: str, options, spread: bool, metrics) -> tuple:
    import apache_beam as beam

    from xlaug.pipelines.common import run_to_end
    from xlaug.transforms.apply import ApplyStep
    from xlaug.transforms.checkpoint import WriteCheckpoint
    from xlaug.transforms.io import ReadCorpus
    from xlaug.transforms.ledger import tallies

    p = beam.Pipeline(options=options)
    read = p | ReadCorpus(specs, spread=spread)
    books = [("read", None, read)]
    rejected = [read.rejected | "Tag read" >> beam.Map(lambda r: (0, r))]
    current = read.kept
    for i, st in enumerate(stages, 1):
        out = current | ApplyStep(st)
        books.append((st.name, current, out))
        rejected.append(out.rejected | f"Tag {st.name}" >> beam.Map(lambda r, i=i: (i, r)))
        current = out.kept
    table, wiring, order = tallies(books)
    (current, rejected | "All rejected" >> beam.Flatten(), table) | WriteCheckpoint(folder)
    result = run_to_end(p)
    if metrics is not None:
        from xlaug.pipelines.progress import collect_metrics
        collect_metrics(result, metrics)
    return wiring, order
