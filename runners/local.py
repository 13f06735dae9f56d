"""xlaug's local runner: Beam's direct runner, always on its FnApiRunner.

Beam 2.77's ``DirectRunner`` first tries to run a pipeline on Prism, which
it downloads from GitHub on first use: offline, every run pays the failed
try (~0.3 s) and falls back; online, the run silently moves to another
runner than the one xlaug is tested on.  In Beam 2.77 the direct runner's
``_is_interactive`` flag has one effect: it skips Prism (Prism cannot run
interactive pipelines); the rest of the choice (FnApiRunner, or the
bundle-based runner for what that cannot run) is Beam's own.
"""
from __future__ import annotations

from apache_beam.runners.direct.direct_runner import SwitchingDirectRunner


class XlaugDirectRunner(SwitchingDirectRunner):
    """``DirectRunner`` without the try on Prism."""

    _is_interactive = True

    def is_fnapi_compatible(self):
        # Beam skips its proto round trip of the graph (a check: ~0.4 s per
        # run) for its own direct runner in batch, by the class's name; the
        # same for this one.  FnApiRunner, which runs batch, is the Fn API.
        return True


def _close_workers_together() -> None:
    """Beam's FnApiRunner ends its worker processes one after another, each
    waiting for its worker to wind down (~0.3 s each, at the end of every
    run with every core idle).  Signal every worker's control connection
    to close first, all at once; Beam's own closing then finds them done."""
    import threading

    from apache_beam.runners.portability.fn_api_runner import worker_handlers as wh
    base = wh.WorkerHandlerManager.close_all
    if getattr(base, "xlaug_together", False):
        return

    def close_all(self):
        conns = [getattr(h, "control_conn", None) for hs in self._cached_handlers.values() for h in set(hs)]
        threads = [threading.Thread(target=c.close, daemon=True) for c in conns if c is not None]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        base(self)

    close_all.xlaug_together = True
    wh.WorkerHandlerManager.close_all = close_all


_close_workers_together()
