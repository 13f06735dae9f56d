"""Worker processes started ahead of the pipeline, for the multiprocess runner.

A Beam SDK worker process spends about a second importing Beam before it
takes work, and Beam starts its workers only once the pipeline runs: after
the driver has imported Beam and built the graph.  On a 2-core machine
those two waits come one after the other at the start of every run.
``start(n)`` launches ``n`` processes that import the worker code right
away (while the driver builds the pipeline) and then wait on stdin for the
environment Beam would have started them with; Beam's launch of the same
worker command takes a waiting process instead of a fresh one.  Processes
nobody took are ended when the driver exits, and leave by themselves when
their stdin closes (a driver that was killed).
"""
from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys

# The command Beam's direct runner runs for each worker in multi_processing mode.
WORKER_COMMAND = f"{sys.executable} -m apache_beam.runners.worker.sdk_worker_main"

# Imports first, then waits: a closed stdin (the driver gone) ends it quietly.
_BOOT = """
import json, os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)  # a waiting process leaves when stdin closes
import apache_beam.runners.worker.sdk_worker_main as worker
line = sys.stdin.readline()
if not line.strip():
    sys.exit(0)
order = json.loads(line)
os.environ.clear()
os.environ.update(order["env"])
if not order["ignore_sigint"]:
    signal.signal(signal.SIGINT, signal.default_int_handler)
sys.argv = [worker.__file__]
worker.main(sys.argv)
"""

_waiting: list[subprocess.Popen] = []
_taken = 0  # processes handed to Beam so far


def start(n: int) -> None:
    """Start ``n`` waiting worker processes (fewer if some still wait)."""
    global _waiting
    _waiting = [p for p in _waiting if p.poll() is None]
    for _ in range(max(0, n - len(_waiting))):
        _waiting.append(subprocess.Popen([sys.executable, "-c", _BOOT], stdin=subprocess.PIPE))
    _install()  # imports Beam here: after the processes started, which import it meanwhile


def waiting() -> int:
    """How many started processes wait for work."""
    return sum(p.poll() is None for p in _waiting)


def taken() -> int:
    """How many started processes Beam has taken as workers (in this process)."""
    return _taken


# How pipelines/interrupt.py starts a worker that ignores Ctrl-C.
_SHIELDED = "trap '' INT; exec "


def _take(command: str, env: dict):
    """A waiting process set going as ``command`` with ``env``; None if
    the command is another one or none waits."""
    shielded = command.startswith(_SHIELDED)
    if (command[len(_SHIELDED):] if shielded else command) != WORKER_COMMAND:
        return None
    while _waiting:
        p = _waiting.pop(0)
        if p.poll() is not None:
            continue
        try:
            order = {"env": dict(env), "ignore_sigint": shielded}
            p.stdin.write((json.dumps(order) + "\n").encode("utf-8"))
            p.stdin.close()
        except OSError:
            continue
        global _taken
        _taken += 1
        return p
    return None


class _Subprocess:
    """The ``subprocess`` module as Beam's worker launcher sees it: ``Popen``
    of the worker command hands over a waiting process."""

    def __getattr__(self, name):
        return getattr(subprocess, name)

    @staticmethod
    def Popen(args, *rest, **kwargs):
        taken = None
        if isinstance(args, str) and kwargs.get("env") is not None:
            taken = _take(args, kwargs["env"])
        return taken or subprocess.Popen(args, *rest, **kwargs)


def _install() -> None:
    from apache_beam.runners.portability import local_job_service
    if not isinstance(local_job_service.subprocess, _Subprocess):
        local_job_service.subprocess = _Subprocess()


def _end_waiting() -> None:
    """At exit: processes nobody took have done nothing worth keeping, and
    one may still be importing (after an early error): ended at once."""
    for p in _waiting:
        if p.poll() is None:
            p.kill()
        p.wait()


atexit.register(_end_waiting)
