"""YAML configuration: option names as keys (dashes or underscores)."""
from __future__ import annotations

import argparse
import os


def load_config(path: str, parser: argparse.ArgumentParser) -> dict:
    from xlaug.pipelines.cli import CliError
    import yaml

    if not os.path.isfile(path):
        raise CliError(f"{path}: config file not found")
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise CliError(f"{path}:{where} not valid YAML: {getattr(e, 'problem', e)}") from None
    if not isinstance(data, dict):
        raise CliError(f"{path}: expected a mapping of option names to values")
    dests = {a.dest for a in parser._actions}
    out = {}
    for key, value in data.items():
        dest = str(key).replace("-", "_")
        if dest not in dests:
            raise CliError(f"{path}: unknown option '{key}' (known: "
                           f"{', '.join(sorted(d for d in dests if d not in ('help', 'config')))})")
        out[dest] = value
    return out
