"""``xlaug align fit``: self-train an alignment encoder on your own parallel
text (no gold), awesome-align style, and save it as a new encoder folder that
every command takes as --align-model (transforms/align_fit.py).

Pairs: one ``source ||| target`` a line, whitespace-tokenized (the format of
``eval align``).  Last line printed: the new folder.
"""
from __future__ import annotations

import sys

from xlaug.pipelines.options import Option, integer, number, path, text

HELP = "self-train an alignment encoder on parallel text (no gold) and save it as a new encoder folder"
DESCRIPTION = __doc__

OPTIONS = (
    Option("pairs", path, required=True, metavar="FILE", help="'source ||| target' pairs, one a line"),
    Option("align-model", path, required=True, metavar="MODEL", help="encoder to start from: hub id or folder"),
    Option("output", path, required=True, metavar="DIR", help="new encoder folder (refused if it exists)"),
    Option("force", flag=True, help="replace --output if it exists"),
    Option("fit-layers", text, "6,7", metavar="L,L", help="hidden layers whose links are trained "
           "(comma-separated; the projection and link defaults)"),
    Option("epochs", integer(min=1), 1),
    Option("fit-batch-size", integer(min=1), 8, help="pairs per training step"),
    Option("lr", number(min=0.0, min_open=True), 2e-5, help="AdamW learning rate"),
    Option("fit-threshold", number(min=0.0, max=1.0, min_open=True), 0.1,
           help="softmax threshold of the model's own links used as targets"),
    Option("fit-temperature", number(min=0.0), 0.1,
           help="score links as cosine / T (0: raw dot products, as awesome-align)"),
    Option("no-tlm", flag=True, help="self-training loss only: no translation language modelling "
           "(masked subwords of the joined pair, predicted by a fresh head tied to the word embeddings)"),
    Option("max-steps", integer(min=1), metavar="N", help="stop after N steps"),
    Option("limit", integer(min=1), metavar="N", help="only the first N pairs"),
    Option("seed", integer(min=0), 0),
    Option("threads", integer(min=1), help="torch CPU threads"),
)


def main(o) -> int:
    from xlaug.transforms.errors import UsageError
    from xlaug.transforms.metrics import read_alignment_pairs

    try:
        layers = tuple(int(x) for x in str(o.fit_layers).split(",") if x.strip())
    except ValueError:
        raise UsageError(f"--fit-layers: expected comma-separated layer numbers, got {o.fit_layers!r}") from None
    if not layers or min(layers) < 1:
        raise UsageError(f"--fit-layers: layers are numbered from 1, got {o.fit_layers!r}")
    pairs = read_alignment_pairs(o.pairs)
    if o.limit:
        pairs = pairs[:o.limit]
    import os
    if os.path.exists(o.output) and not o.force:
        raise UsageError(f"--output {o.output} exists (give --force to replace it)")
    from xlaug.transforms.models import check_model
    check_model(o.align_model, "--align-model", kind="encoder", layer=max(layers), layer_option="--fit-layers")

    from xlaug.transforms.align_fit import FitConfig, fit
    config = FitConfig(layers=layers, epochs=o.epochs, batch_size=o.fit_batch_size, lr=o.lr,
                       threshold=o.fit_threshold, temperature=o.fit_temperature or None, seed=o.seed,
                       max_steps=o.max_steps, threads=o.threads, tlm=not o.no_tlm)
    try:
        r = fit(o.align_model, pairs, o.output, config, force=o.force,
                log=lambda m: print(f"xlaug: {m}", file=sys.stderr))
    except (OSError, ValueError) as e:
        raise UsageError(f"align fit: {str(e).splitlines()[0]}") from None
    print(f"pairs={r.pairs_used} skipped={r.pairs_skipped} steps={r.steps} seconds={r.seconds:.1f} "
          f"pairs_per_second={r.pairs_seen / max(r.seconds, 1e-9):.2f}")
    print("loss per epoch: " + " ".join(f"{x:.4f}" for x in r.losses))
    print(r.out_dir)
    return 0
