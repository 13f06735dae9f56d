"""Finding a Hugging Face model by hub id or local folder, and checking that it
is the kind of model a stage needs, in the driver before any work: only
config.json is read (no weights, no torch).

A name is a local folder when that folder exists.  A name that looks like a
path (``./m``, ``~/m``, ``a/b/c``, or ``models/m`` when ``models/`` exists
here) and is not a folder is an error, never a hub id.  Anything else is a
hub id: found in the local cache, or (when ``HF_HUB_OFFLINE`` is not set)
looked up on the hub once, with a short timeout instead of the hub client's
retries.
"""
from __future__ import annotations

import json
import os

HUB_TIMEOUT = 5.0  # seconds for the one look-up of a hub id that is not cached

# model_type values of encoder-decoder (seq2seq) models whose config may not say so.
SEQ2SEQ_TYPES = frozenset({
    "marian", "m2m_100", "nllb_moe", "mbart", "bart", "t5", "mt5", "umt5", "fsmt", "pegasus",
    "mvp", "plbart", "prophetnet", "led", "bigbird_pegasus", "blenderbot", "blenderbot-small",
    "longt5", "switch_transformers", "seamless_m4t", "encoder-decoder"})
KINDS = {
    "seq2seq": "a seq2seq (translation) model",
    "encoder": "an encoder (BERT/XLM-R/E5-type)",
    "tagger": "a token-classification model",
}


class ModelLoadError(ValueError):
    """A model that cannot be found or loaded; the message names it."""


def _is_local(name: str) -> bool:
    return os.path.isdir(os.path.expanduser(name))


def _looks_like_path(name: str) -> bool:
    # Hub ids are "name" or "org/name"; anything else is meant as a folder, and
    # so is "dir/name" when dir/ is a folder here.
    if name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name or os.sep != "/" and os.sep in name:
        return True
    head, sep, _ = name.partition("/")
    return bool(sep) and os.path.isdir(head)


def check_model_available(name: str) -> None:
    """Cheap driver-side check (no model load): raise ModelLoadError naming the model."""
    if _is_local(name):
        if not os.path.isfile(os.path.join(os.path.expanduser(name), "config.json")):
            raise ModelLoadError(f"model directory '{name}' has no config.json (not a saved Hugging Face model)")
        return
    if _looks_like_path(name):
        raise ModelLoadError(f"model '{name}' not found: no such directory")
    if _cached_config_path(name):
        return
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on"):
        raise ModelLoadError(f"model '{name}' is not a local directory and not in the Hugging Face "
                             f"cache, and HF_HUB_OFFLINE=1 forbids downloading it")
    _ask_hub(name)


def _cached_config_path(name: str) -> str | None:
    try:
        from huggingface_hub import try_to_load_from_cache
        found = try_to_load_from_cache(name, "config.json")
    except Exception:  # an id the hub client refuses (bad characters): not cached
        return None
    return found if isinstance(found, str) else None


def _ask_hub(name: str) -> None:
    """One request, short timeout: does the hub know this model?  When it
    does, its config.json (a few KB) is fetched into the cache, so the kind
    and depth checks can read it."""
    import urllib.error
    import urllib.request

    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    request = urllib.request.Request(f"{endpoint}/api/models/{name}")
    try:
        urllib.request.urlopen(request, timeout=HUB_TIMEOUT).close()
    except urllib.error.HTTPError as e:
        if e.code in (401, 403):  # gated or private: the token decides at load time
            return
        if e.code == 404:
            raise ModelLoadError(f"model '{name}' is not a local directory and not a model on the "
                                 "Hugging Face hub") from None
        raise ModelLoadError(f"model '{name}' is not a local directory, and the hub answered "
                             f"HTTP {e.code} when asked for it") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise ModelLoadError(f"model '{name}' is not a local directory, and the Hugging Face hub "
                             f"cannot be reached to find it ({reason}); give a local folder, or set "
                             "HF_HUB_OFFLINE=1 to use the local cache only") from None
    try:
        from huggingface_hub import hf_hub_download
        hf_hub_download(name, "config.json", etag_timeout=HUB_TIMEOUT)
    except Exception:  # no config.json to read: the model load will say what is wrong
        pass


def read_config(name: str) -> dict | None:
    """config.json of a local folder or a cached hub model (None: not at hand)."""
    path = (os.path.join(os.path.expanduser(name), "config.json") if _is_local(name)
            else _cached_config_path(name))
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"model '{name}': config.json cannot be read ({e})") from None
    if not isinstance(data, dict):
        raise ModelLoadError(f"model '{name}': config.json is not a JSON object")
    return data


def model_kind(config: dict) -> str:
    """'seq2seq', 'tagger' or 'encoder', from a config.json mapping."""
    archs = [str(a) for a in config.get("architectures") or []]
    if config.get("is_encoder_decoder") or config.get("model_type") in SEQ2SEQ_TYPES \
            or any(a.endswith(("ForConditionalGeneration", "ForSeq2SeqLM")) for a in archs):
        return "seq2seq"
    if any(a.endswith("ForTokenClassification") for a in archs):
        return "tagger"
    return "encoder"


def num_layers(config: dict) -> int | None:
    for key in ("num_hidden_layers", "n_layers", "num_layers", "n_layer"):
        value = config.get(key)
        if isinstance(value, int) and value > 0:
            return value
    return None


def check_model_config(name: str, config: dict, *, kind: str | None = None, layer=None) -> None:
    """Raise ModelLoadError when the model is not of ``kind`` or has no ``layer``."""
    got = model_kind(config)
    model_type = config.get("model_type") or "unknown type"
    if kind == "seq2seq" and got != "seq2seq":
        raise ModelLoadError(f"model '{name}' is {KINDS[got]} ({model_type}), not {KINDS['seq2seq']}")
    if kind in ("encoder", "tagger") and got == "seq2seq":
        raise ModelLoadError(f"model '{name}' is {KINDS['seq2seq']} ({model_type}); this needs "
                             f"{KINDS[kind]}")
    if kind == "tagger" and got != "tagger":
        raise ModelLoadError(f"model '{name}' has no token-classification head ({model_type}, "
                             f"architectures: {', '.join(config.get('architectures') or ['none'])})")
    if isinstance(layer, int):
        n = num_layers(config)
        if n is not None and layer > n:
            raise ModelLoadError(f"layer {layer} does not exist: model '{name}' has {n} layers "
                                 f"(0 = embeddings ... {n})")


def require_model(name: str, option: str) -> None:
    """check_model_available as a one-line CLI error naming the option."""
    check_model(name, option)


def check_model(name: str, option: str, *, kind: str | None = None, layer=None,
                layer_option: str | None = None) -> None:
    """Everything knowable about a model before loading it, as one UsageError
    line naming the option: found (local folder, cache or hub), the ``kind``
    a stage needs, and deep enough for ``layer``."""
    from xlaug.transforms.errors import UsageError
    if not name:
        raise UsageError(f"{option} is required")
    try:
        check_model_available(name)
        config = read_config(name)
        if config is not None:
            check_model_config(name, config, kind=kind, layer=layer)
    except ModelLoadError as e:
        where = layer_option if layer_option and str(e).startswith("layer ") else option
        raise UsageError(f"{where}: {e}") from None
