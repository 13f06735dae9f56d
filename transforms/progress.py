"""Records counted per stage while a pipeline runs.

Every count goes to a Beam metric: a counter in namespace ``xlaug.<stage>``
(``in``, ``out``, ``rejected``, ``rejected:<reason>``, and what a stage
adds, e.g. ``tokens_translated``), which Dataflow shows on the job page and
any runner reports in its result.  The identity check (transforms/ledger.py)
sees every record of every stage anyway, so it does the counting.

Local runs also want to see the counts while they grow, and a running
local pipeline does not report its metrics before it ends.  So, when
XLAUG_PROGRESS_DIR names a folder, each process also writes its running
totals there (one small JSON file per process, at most twice a second);
the driver sums the files (pipelines/progress.py).  Worker processes
inherit the variable; it costs nothing when unset.
"""
from __future__ import annotations

import json
import os
import threading
import time

NAMESPACE = "xlaug."
ENV = "XLAUG_PROGRESS_DIR"
EVERY = 0.5  # seconds between writes of a process's totals

_lock = threading.Lock()
_totals: dict = {}
_last = [0.0]
_counters: dict = {}


def metric(stage: str, name: str, n: int) -> None:
    """Add ``n`` to the Beam counter ``xlaug.<stage>/<name>`` (a no-op outside a running stage)."""
    key = (stage, name)
    counter = _counters.get(key)
    if counter is None:
        from apache_beam.metrics import Metrics
        counter = _counters[key] = Metrics.counter(NAMESPACE + stage, name)
    counter.inc(n)


def count(stage: str, name: str, n: int = 1) -> None:
    """A count of a stage: the Beam metric, and the local progress totals."""
    if n:
        metric(stage, name, n)
        add({(stage, name): n})


def add(deltas: dict) -> None:
    """Add {(stage, name): n} to this process's progress totals (written
    when XLAUG_PROGRESS_DIR is set)."""
    folder = os.environ.get(ENV)
    if not folder:
        return
    with _lock:
        for (stage, name), n in deltas.items():
            row = _totals.setdefault(stage, {})
            row[name] = row.get(name, 0) + n
        now = time.monotonic()
        if now - _last[0] < EVERY:
            return
        _last[0] = now
        data = json.dumps(_totals)
    _write(folder, data)


def flush() -> None:
    """Write this process's totals now (at the end of a bundle)."""
    folder = os.environ.get(ENV)
    if folder:
        with _lock:
            data = json.dumps(_totals)
        _write(folder, data)


def _write(folder: str, data: str) -> None:
    path = os.path.join(folder, f"{os.getpid()}.json")
    try:
        with open(path + ".tmp", "w") as f:
            f.write(data)
        os.replace(path + ".tmp", path)
    except OSError:
        pass  # progress is a view; never fail a run over it


def read_totals(folder: str) -> dict:
    """{stage: {name: n}} summed over the processes' files."""
    out: dict = {}
    try:
        names = os.listdir(folder)
    except OSError:
        return out
    for name in names:
        if not name.endswith(".json"):
            continue
        try:
            with open(os.path.join(folder, name)) as f:
                data = json.load(f)
        except (OSError, ValueError):
            continue
        for stage, row in data.items():
            mine = out.setdefault(stage, {})
            for k, n in row.items():
                mine[k] = mine.get(k, 0) + n
    return out
