"""``xlaug run align``: word-align a parallel corpus (links, a similarity per
link, and an alignment-coverage score on each record)."""
from __future__ import annotations

from xlaug.pipelines.align_args import align_options

HELP = "word-align a parallel corpus with a multilingual encoder (SimAlign methods, batched)"
OPTIONS = align_options("align", required=True, old={"align-long-input": ("long-input",)})


def build_stages(o) -> list:
    from xlaug.pipelines.align_args import align_step
    return [align_step(o)]
