"""Alignment options shared by every command that aligns (light imports only).

    add_align_arguments(parser)       --align-model, --layer, --method, ...
    align_step_from_args(args)        -> xlaug.transforms.align.AlignStep (the stage)
"""
from __future__ import annotations

import argparse

from xlaug.transforms.align_defaults import DEFAULT_LAYER, DEFAULT_METHOD, LONG_INPUT_POLICIES, METHODS


def _layer(value: str):
    if value == "auto":
        return value
    try:
        layer = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a layer number or 'auto', got {value!r}") from None
    if layer < 0:
        raise argparse.ArgumentTypeError("layer must be >= 0")
    return layer


def _positive(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return n


def add_align_arguments(parser: argparse.ArgumentParser, *, model_flag: str = "--align-model",
                        required: bool = False, batch_flag: str = "--align-batch-size") -> None:
    """Add the aligner's options (dests: align_model, layer, method, align_batch_size,
    long_input, distortion, min_link_sim, softmax_threshold, softmax_temperature,
    align_device, align_threads, quantize)."""
    g = parser.add_argument_group("word alignment")
    flags = [model_flag] if model_flag == "--align-model" else [model_flag, "--align-model"]
    g.add_argument(*flags, dest="align_model", required=required,
                   help="encoder for alignment: hub id or local directory")
    g.add_argument("--layer", type=_layer, default=DEFAULT_LAYER,
                   help="hidden layer to align with (0 = embeddings), or 'auto' to choose on a "
                        "sample of the input")
    g.add_argument("--method", choices=METHODS, default=DEFAULT_METHOD,
                   help="link extraction: argmax (SimAlign ArgMax), itermax, match, softmax (awesome-align)")
    bflags = [batch_flag] if batch_flag == "--align-batch-size" else [batch_flag, "--align-batch-size"]
    g.add_argument(*bflags, dest="align_batch_size", type=_positive, default=32,
                   help="sentences per encoder forward pass")
    g.add_argument("--long-input", choices=LONG_INPUT_POLICIES, default="reject",
                   help="pairs longer than the encoder's limit: reject (reason too_long) or embed "
                        "in overlapping windows")
    g.add_argument("--distortion", type=float, default=0.0,
                   help="SimAlign distortion: damp links far from the diagonal (0 = off)")
    g.add_argument("--min-link-sim", type=float, default=0.0,
                   help="null alignment: drop links whose similarity ((cos+1)/2) is below this")
    g.add_argument("--softmax-threshold", type=float, default=1e-3,
                   help="probability threshold of --method softmax")
    g.add_argument("--softmax-temperature", type=float, default=None,
                   help="--method softmax on cosine / T instead of raw dot products")
    g.add_argument("--align-device", default="auto", help="auto (GPU when present), cpu, cuda, cuda:1 ...")
    g.add_argument("--align-threads", type=_positive, default=None,
                   help="torch CPU threads (default: torch's own choice)")
    g.add_argument("--quantize", choices=("int8",), default=None,
                   help="int8 dynamic quantization of the encoder's Linear layers (CPU)")


def aligner_kwargs_from_args(args) -> dict:
    """Keyword arguments of WordAligner / AlignStep (everything but the model)."""
    kw = dict(layer=args.layer, method=args.method, device=args.align_device,
              batch_size=args.align_batch_size, threads=args.align_threads,
              long_input=args.long_input, quantize=args.quantize)
    if args.distortion:
        kw["distortion"] = args.distortion
    if args.min_link_sim:
        kw["min_link_sim"] = args.min_link_sim
    if args.method == "softmax":
        kw["softmax_threshold"] = args.softmax_threshold
        if args.softmax_temperature:
            kw["softmax_temperature"] = args.softmax_temperature
    return kw


def align_step_from_args(args):
    from xlaug.transforms.align import AlignStep
    from xlaug.transforms.models import require_model
    require_model(args.align_model, "--align-model")
    return AlignStep(args.align_model, **aligner_kwargs_from_args(args))
