"""Expected messages of the libraries underneath, silenced; real warnings stay.

- Apache Beam logs "apitools not found ..." when it is imported without the
  optional BigQuery client; xlaug never uses BigQuery.  ``drop_known_noise``
  (run when ``xlaug`` is imported) drops exactly that message.
- transformers prints a load report and a progress bar on every
  ``from_pretrained``.  ``load_pretrained`` loads without them and warns once,
  in one line, about weights that are really missing; prefixes the caller
  never reads (an encoder's pooler, when only hidden states are used) are
  not worth a warning.
- Beam's multi-process runner relays every worker's start-up warnings
  ("No semi_persistent_directory found", "Discarding unparseable args" for
  the direct runner's own options): expected, once per worker, dropped.
- Tokenizers warn about inputs longer than the model takes; the stages that
  handle long input by policy (reject, window, chunk) tokenize with
  ``verbose=False`` instead of silencing anything here.
"""
from __future__ import annotations

import logging

LOG = logging.getLogger(__name__)

_BEAM_NOISE = ("apitools not found",)
_WORKER_LOG = "apache_beam.runners.portability.local_job_service"
_WORKER_NOISE = ("No semi_persistent_directory found", "Discarding unparseable args")


class _Drop(logging.Filter):
    """Drop records whose message contains one of ``texts``."""

    def __init__(self, texts: tuple[str, ...]):
        super().__init__()
        self.texts = texts

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:  # a malformed record is not ours to judge
            return True
        return not any(t in msg for t in self.texts)


def drop_known_noise() -> None:
    """Install the filters for Beam's expected messages (idempotent)."""
    for name, texts in (("", _BEAM_NOISE), (_WORKER_LOG, _WORKER_NOISE)):
        log = logging.getLogger(name)
        if not any(isinstance(f, _Drop) and f.texts == texts for f in log.filters):
            log.addFilter(_Drop(texts))


def load_pretrained(auto_cls, name: str, *, unread: tuple[str, ...] = (), **kwargs):
    """``auto_cls.from_pretrained(name, **kwargs)`` without transformers' load
    report and progress bar.  Weights missing from the checkpoint (left at
    random values) or reshaped get one warning, except names starting with a
    prefix in ``unread``; checkpoint weights the model does not use are
    logged at INFO."""
    from transformers.utils import logging as hf_logging

    report_log = logging.getLogger("transformers.modeling_utils")
    drop = _Drop(("LOAD REPORT",))
    bars = hf_logging.is_progress_bar_enabled()
    report_log.addFilter(drop)
    hf_logging.disable_progress_bar()
    try:
        model, info = auto_cls.from_pretrained(name, output_loading_info=True, **kwargs)
    finally:
        report_log.removeFilter(drop)
        if bars:
            hf_logging.enable_progress_bar()
    missing = sorted(k for k in info.get("missing_keys", ()) if not k.startswith(tuple(unread)))
    missing += sorted(k[0] for k in info.get("mismatched_keys", ()))
    if missing:
        LOG.warning("%s: %d weight(s) not loaded from the checkpoint, left at random values: %s%s",
                    name, len(missing), ", ".join(missing[:5]), ", ..." if len(missing) > 5 else "")
    if info.get("unexpected_keys"):
        LOG.info("%s: %d checkpoint weight(s) unused by %s", name, len(info["unexpected_keys"]),
                 type(model).__name__)
    return model
