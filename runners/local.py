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
