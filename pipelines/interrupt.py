"""Ctrl-C during a run: one line, exit status 130, no traceback.

The pipeline runs in a thread started with SIGINT blocked, so that thread
and Beam's threads (which inherit the mask) never see it; the main thread
alone gets KeyboardInterrupt.  Worker processes do not inherit a signal
mask (subprocess clears it) but do inherit an ignored signal, so the
multi-process runner's worker command is prefixed with ``trap '' INT``.
Without this, every worker process and several of Beam's threads print a
traceback of their own (177 lines measured).
"""
from __future__ import annotations

import os
import signal
import threading


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGINT) while the pipeline ran."""


def run_shielded(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` in a thread shielded from SIGINT; its result, or
    its exception re-raised here.  Ctrl-C raises ``Interrupted`` at once
    (the thread and its worker processes are left to ``abandon``)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        return fn(*args, **kwargs)
    _quiet_worker_processes()
    box: dict = {}

    def target():
        try:
            box["result"] = fn(*args, **kwargs)
        except BaseException as e:  # noqa: BLE001 - handed to the main thread
            box["error"] = e

    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        worker = threading.Thread(target=target, name="xlaug-pipeline", daemon=True)
        worker.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
    try:
        while worker.is_alive():
            worker.join(0.2)
    except KeyboardInterrupt:
        raise Interrupted() from None
    if "error" in box:
        raise box["error"]
    return box.get("result")


def _quiet_worker_processes() -> None:
    """Beam 2.77 starts each multi-process worker with ``sh -c COMMAND``
    (local_job_service.SubprocessSdkWorker); start it with SIGINT ignored.
    Left alone if that class is not there."""
    try:
        from apache_beam.runners.portability import local_job_service as ljs
    except ImportError:
        return
    base = getattr(ljs, "SubprocessSdkWorker", None)
    if base is None or getattr(base, "xlaug_quiet", False) or os.name != "posix":
        return

    class QuietSubprocessSdkWorker(base):
        xlaug_quiet = True

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            command = getattr(self, "_worker_command_line", None)
            if isinstance(command, str):
                # `exec` only a plain command: on a list (`a; exec b`) it would
                # replace the shell with `a` and the worker would never start.
                simple = not any(c in command for c in ";&|\n")
                self._worker_command_line = f"trap '' INT; {'exec ' if simple else ''}{command}"

    ljs.SubprocessSdkWorker = QuietSubprocessSdkWorker


def abandon() -> None:
    """After Ctrl-C: end the worker processes this process started (they
    ignore SIGINT, see above); the pipeline thread is a daemon and ends with us."""
    for pid in _children(os.getpid()):
        _end_tree(pid)


def _children(parent: int) -> list[int]:
    found = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found  # no /proc: the workers end when their connection to us breaks
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == parent:
                    found.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return found


def _end_tree(pid: int) -> None:
    """SIGTERM ``pid`` and its descendants (Beam starts workers through a shell)."""
    for kid in _children(pid):
        _end_tree(kid)
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:
        pass
