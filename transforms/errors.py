"""Errors the user can act on, shared by the library and the command line.

The library raises ``UsageError`` for a bad option, path or model name; the
command line prints it as one line and exits with status 2.  It lives here,
below both layers, so the library never imports the CLI.
"""
from __future__ import annotations


class UsageError(Exception):
    """A problem with the user's input: printed as one line, exit status 2."""
