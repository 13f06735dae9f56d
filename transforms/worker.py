"""What a worker process sets up once, whichever stage asks first: torch's
thread count, the device, and the models (one copy per process, shared by
every stage, thread and DoFn in it that needs the same model).

torch is imported only inside these functions.
"""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import Callable

from xlaug.transforms.models import ModelLoadError

LOG = logging.getLogger(__name__)

_LOCK = threading.RLock()
_THREADS: int | None = None
_MODELS: "OrderedDict[object, object]" = OrderedDict()
# Models kept per process: a pipeline uses a few (forward and back
# translation, an aligner, a tagger); an older one is dropped past this.
MAX_MODELS = 4
LOADS: dict = {}  # model key -> times loaded in this process (for tests and logs)


def set_torch_threads(threads: int | None) -> None:
    """Set torch's CPU threads once per process.  The first value asked for
    wins; a later, different one is logged and ignored (torch's setting is
    process-wide: letting each model set it would make the last one loaded win)."""
    global _THREADS
    if not threads:
        return
    threads = int(threads)
    with _LOCK:
        if _THREADS is None:
            import torch
            torch.set_num_threads(threads)
            _THREADS = threads
        elif _THREADS != threads:
            LOG.warning("torch threads already set to %d in this process; ignoring a request for %d",
                        _THREADS, threads)


def torch_threads() -> int | None:
    """The thread count set by ``set_torch_threads`` in this process, if any."""
    return _THREADS


def resolve_device(option: str = "auto"):
    """``auto`` | ``cpu`` | ``cuda`` | ``cuda:N`` | ``mps`` -> a ``torch.device``.
    auto takes CUDA when present; an unavailable or unknown device is a
    ModelLoadError naming it."""
    import torch
    option = (option or "auto").strip()
    if option == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(option)
    except (RuntimeError, ValueError):
        raise ModelLoadError(f"unknown device {option!r} (auto, cpu, cuda, cuda:N)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ModelLoadError(f"device {option} requested but CUDA is not available")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ModelLoadError(f"device {option} requested but only {torch.cuda.device_count()} "
                                 f"CUDA device(s) are present")
    return device


def shared_model(key, load: Callable[[], object], threads: int | None = None):
    """The model for ``key`` in this process, loaded by ``load()`` the first
    time (after setting torch's threads); every later call gets the same object."""
    with _LOCK:
        model = _MODELS.get(key)
        if model is not None:
            _MODELS.move_to_end(key)
            return model
        set_torch_threads(threads)
        model = load()
        LOADS[key] = LOADS.get(key, 0) + 1
        _MODELS[key] = model
        while len(_MODELS) > MAX_MODELS:
            _MODELS.popitem(last=False)
        return model


def release_models() -> None:
    """Drop this process's models (they are freed once nothing else holds them)."""
    with _LOCK:
        _MODELS.clear()
