"""Finding a Hugging Face model by hub id or local folder, checked in the
driver before any work (no weights loaded, no torch imported)."""
from __future__ import annotations

import os


class ModelLoadError(ValueError):
    """A model that cannot be found or loaded; the message names it."""


def _is_local(name: str) -> bool:
    return os.path.isdir(name)


def _looks_like_path(name: str) -> bool:
    # Hub ids are "name" or "org/name"; anything else is meant as a directory.
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name


def check_model_available(name: str) -> None:
    """Cheap driver-side check (no model load): raise ModelLoadError naming the model."""
    if _is_local(name):
        if not os.path.isfile(os.path.join(name, "config.json")):
            raise ModelLoadError(f"model directory '{name}' has no config.json (not a saved Hugging Face model)")
        return
    if _looks_like_path(name):
        raise ModelLoadError(f"model '{name}' not found: no such directory")
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        from huggingface_hub import try_to_load_from_cache
        if not isinstance(try_to_load_from_cache(name, "config.json"), str):
            raise ModelLoadError(f"model '{name}' is not a local directory and not in the Hugging Face "
                                 f"cache, and HF_HUB_OFFLINE=1 forbids downloading it")


def require_model(name: str, option: str) -> None:
    """check_model_available as a one-line CLI error naming the option."""
    from xlaug.transforms.errors import UsageError
    try:
        check_model_available(name)
    except ModelLoadError as e:
        raise UsageError(f"{option}: {e}") from None
