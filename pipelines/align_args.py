"""Alignment options shared by every command that aligns (light imports only).

    align_options(task)            the declared --align-* options, defaults of that task
    aligner_kwargs(options)        -> keyword arguments of WordAligner / AlignStep
    check_aligner(options)         model, kind and layer checked before any work
    align_step(options)            -> the stage, xlaug.transforms.align.AlignStep
"""
from __future__ import annotations

from xlaug.pipelines.options import SEGMENTER, Option, choice, device, integer, layer, number, path
from xlaug.transforms.align_defaults import DEFAULT_BATCH_SIZE, LONG_INPUT_POLICIES, METHODS, TASK_DEFAULTS

GROUP = "word alignment"


def align_options(task: str = "align", *, required: bool = False, old: dict | None = None) -> tuple:
    """The aligner's options with ``task``'s defaults (align_defaults.TASK_DEFAULTS).
    ``old``: deprecated spellings per option name, read with a warning."""
    old = {"align-layer": ("layer",), "align-method": ("method",), **(old or {})}
    d = TASK_DEFAULTS[task]

    def opt(name, *args, **kw):
        return Option(name, *args, group=GROUP, old=tuple(old.get(name, ())), **kw)

    return (
        opt("align-model", path, required=required, metavar="MODEL",
            help="encoder for alignment: hub id or local directory"),
        opt("align-layer", layer, d["layer"],
            help="hidden layer to align with (0 = embeddings), or 'auto' to choose on a sample of the input"),
        opt("align-method", choice(*METHODS), d["method"],
            help="link extraction: argmax (SimAlign ArgMax), itermax, match, softmax (awesome-align)"),
        opt("align-batch-size", integer(min=1), DEFAULT_BATCH_SIZE, help="sentences per encoder forward pass"),
        opt("align-long-input", choice(*LONG_INPUT_POLICIES), "reject",
            help="pairs longer than the encoder's limit: reject (reason too_long) or embed "
                 "in overlapping windows"),
        opt("distortion", number(min=0.0), 0.0,
            help="SimAlign distortion: damp links far from the diagonal (0 = off)"),
        opt("min-link-sim", number(min=0.0, max=1.0), 0.0,
            help="null alignment: drop links whose similarity ((cos+1)/2) is below this"),
        opt("softmax-threshold", number(min=0.0, max=1.0, min_open=True), 1e-3,
            help="probability threshold of --align-method softmax"),
        opt("softmax-temperature", number(min=0.0, min_open=True),
            help="--align-method softmax on cosine / T instead of raw dot products"),
        opt("align-device", device, "auto", help="auto (GPU when present), cpu, cuda, cuda:1 ..."),
        opt("align-threads", integer(min=1), help="torch CPU threads (default: torch's own choice)"),
        opt("quantize", choice("int8"), help="int8 dynamic quantization of the encoder's Linear layers (CPU)"),
        SEGMENTER,
    )


def aligner_kwargs(o) -> dict:
    """Keyword arguments of WordAligner / AlignStep (everything but the model)."""
    kw = dict(layer=o.align_layer, method=o.align_method, device=o.align_device,
              batch_size=o.align_batch_size, threads=o.align_threads,
              long_input=o.align_long_input, quantize=o.quantize)
    if o.distortion:
        kw["distortion"] = o.distortion
    if o.min_link_sim:
        kw["min_link_sim"] = o.min_link_sim
    if o.align_method == "softmax":
        kw["softmax_threshold"] = o.softmax_threshold
        if o.softmax_temperature:
            kw["softmax_temperature"] = o.softmax_temperature
    return kw


def check_aligner(o) -> None:
    """--align-model: found, an encoder, deep enough for --align-layer (config.json only)."""
    from xlaug.transforms.models import check_model
    check_model(o.align_model, "--align-model", kind="encoder", layer=o.align_layer,
                layer_option="--align-layer")


def align_step(o, **extra):
    from xlaug.transforms.align import AlignStep
    from xlaug.transforms.segment import check_segmenter
    check_aligner(o)
    check_segmenter(o.segmenter, (getattr(o, "src_lang", None), getattr(o, "tgt_lang", None)))
    return AlignStep(o.align_model, **aligner_kwargs(o), segmenter=o.segmenter, **extra)
