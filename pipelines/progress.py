"""The progress line of a local run, on stderr:

    read 120,345 · kept 118,002 · rejected 2,343 · 4,210 rec/s · 0:28 · parts done 2/3 [#######---]

Shown when stderr is a terminal, the runner is local and --quiet is not
given; XLAUG_PROGRESS=1 shows it anyway, one line at a time (tests, logs),
XLAUG_PROGRESS=0 never.  The counts come from the files the stages' workers
write (transforms/progress.py), summed twice a second by a thread here.
"""
from __future__ import annotations

import os
import sys
import tempfile
import threading
import time

from xlaug.transforms import progress

LOCAL = ("local", "multiprocess", "portable")


def wanted(args) -> str | None:
    """'tty' (redrawn in place), 'lines' (forced), or None."""
    force = os.environ.get("XLAUG_PROGRESS", "")
    if force == "0" or getattr(args, "quiet", False):
        return None
    if force == "1":
        return "lines"
    if args.runner in LOCAL and sys.stderr.isatty():
        return "tty"
    return None


class Progress:
    """``with Progress(args, stages) as show:`` around the pipelines of a run;
    ``show.part(k, n)`` when k of n parts are done."""

    def __init__(self, args, stage_names: list[str], every: float = 0.5):
        self.mode = wanted(args)
        self.stages = stage_names
        self.every = every if self.mode == "tty" else max(every, 2.0)
        self.parts = None
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._folder = None
        self._thread = None
        self._width = 0

    def __enter__(self):
        if not self.mode:
            return self
        self._folder = tempfile.mkdtemp(prefix="xlaug-progress-")
        self._old = os.environ.get(progress.ENV)
        os.environ[progress.ENV] = self._folder
        self._thread = threading.Thread(target=self._loop, name="xlaug-progress", daemon=True)
        self._thread.start()
        return self

    def part(self, k: int, n: int) -> None:
        self.parts = (k, n)

    def __exit__(self, *exc):
        if not self.mode:
            return False
        self._stop.set()
        self._thread.join(2)
        if exc[0] is None:
            self._draw(final=True)
        if self.mode == "tty" and self._width:
            sys.stderr.write("\r" + " " * self._width + "\r")  # the summary follows on stdout
            sys.stderr.flush()
        if self._old is None:
            os.environ.pop(progress.ENV, None)
        else:
            os.environ[progress.ENV] = self._old
        import shutil
        shutil.rmtree(self._folder, ignore_errors=True)
        return False

    def _loop(self):
        while not self._stop.wait(self.every):
            self._draw()

    def line(self, totals: dict) -> str:
        read = totals.get("read", {})
        n_read = read.get("out", 0) + read.get("rejected", 0)
        last = totals.get(self.stages[-1], {}) if self.stages else {}
        rejected = sum(row.get("rejected", 0) for row in totals.values())
        seconds = time.monotonic() - self.started
        parts = [f"read {n_read:,}", f"kept {last.get('out', 0):,}", f"rejected {rejected:,}"]
        if seconds > 0:
            parts.append(f"{n_read / seconds:,.0f} rec/s")
        parts.append(f"{int(seconds) // 60}:{int(seconds) % 60:02d}")
        if self.parts:
            k, n = self.parts
            filled = round(10 * k / n)
            parts.append(f"parts done {k}/{n} [{'#' * filled}{'-' * (10 - filled)}]")
        return " · ".join(parts)

    def _draw(self, final: bool = False):
        text = self.line(progress.read_totals(self._folder))
        if self.mode == "tty":
            pad = max(0, self._width - len(text))
            sys.stderr.write("\r" + text + " " * pad)
            self._width = len(text)
        elif final or text != getattr(self, "_shown", None):
            sys.stderr.write(text + "\n")
            self._shown = text
        sys.stderr.flush()


def collect_metrics(result, into: dict) -> None:
    """Add the xlaug counters of a finished pipeline's ``result`` to
    ``into`` {stage: {name: n}}; a runner that reports none adds nothing."""
    try:
        from apache_beam.metrics.metric import MetricsFilter
        counters = result.metrics().query(MetricsFilter())["counters"]
    except Exception:  # noqa: BLE001 - metrics are a view; never fail a run over them
        return
    for c in counters:
        namespace = c.key.metric.namespace
        if not namespace.startswith(progress.NAMESPACE):
            continue
        value = c.committed if c.committed is not None else c.attempted
        row = into.setdefault(namespace[len(progress.NAMESPACE):], {})
        row[c.key.metric.name] = row.get(c.key.metric.name, 0) + (value or 0)
