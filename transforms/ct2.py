"""The CTranslate2 engine: the same ``Translator`` (tokenizer, families,
language codes, limits, batching) with CTranslate2 doing the decoding.

The Hugging Face model is converted once into ``~/.cache/xlaug/ct2/`` (env
``XLAUG_CACHE``), under a key of its files' contents and the compute type;
the conversion writes into a temporary folder that is renamed into place, so
concurrent workers never read half a model.  File digests are remembered by
path, size and modification time (``ct2/digests.json``), so a worker start
reads a large model again only when it changed.  A given CTranslate2 folder
(``ct2_model``) is used as it is.

What matches the hf engine (float32, same inputs): greedy and beam outputs and
their scores, the mean token log-prob up to and including EOS (the hf engine
forces EOS at the length limit; here the limit is one token shorter and the
forced EOS, of log-prob 0, is counted in the mean).  Sampling: CTranslate2's
own sampler draws from one generator per worker thread, which cannot be
re-seeded per row, so rows are sampled here token by token (the decoder
returns the next-token logits for a given prefix) with the hf engine's
per-row generators: a draw depends on its input, key and seed only.  That
costs a decoder pass over the prefix per token: sampling is where the hf
engine is the faster choice.

``ctranslate2`` is imported inside functions (optional extra ``ct2``).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile

from xlaug.transforms.models import ModelLoadError, _is_local
from xlaug.transforms.seq2seq import Decoding, Translator, _make_picker, decode_rows, row_seed

ENGINES = ("hf", "ct2")
COMPUTE_TYPES = ("int8", "int8_float16", "float16", "bfloat16", "float32")
CONVERTER_VERSION = 1  # bump when the conversion below changes


def require_ctranslate2():
    try:
        import ctranslate2
    except ImportError:
        raise ModelLoadError("the ct2 engine needs the ctranslate2 package: "
                             "pip install 'xlaug[ct2]'") from None
    return ctranslate2


def cache_root() -> str:
    return os.path.join(os.path.expanduser(os.environ.get("XLAUG_CACHE") or "~/.cache/xlaug"), "ct2")


def is_ct2_folder(path: str) -> bool:
    return os.path.isfile(os.path.join(os.path.expanduser(path), "model.bin"))


def _local_folder(model: str, offline: bool) -> str:
    if _is_local(model):
        return os.path.expanduser(model)
    from huggingface_hub import snapshot_download
    try:
        return snapshot_download(model, local_files_only=offline)
    except Exception as e:
        raise ModelLoadError(f"model '{model}' could not be fetched for conversion: "
                             f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None


def _file_digest(path: str, known: dict) -> str:
    """SHA-256 of a file's contents, remembered by (path, size, mtime): a worker
    start re-reads a multi-GB model only when it changed."""
    st = os.stat(path)
    stamp = f"{os.path.realpath(path)}|{st.st_size}|{st.st_mtime_ns}"
    if stamp not in known:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
        known[stamp] = h.hexdigest()
    return known[stamp]


def files_key(folder: str) -> str:
    """A hash of every file of a model folder (names and contents)."""
    index = os.path.join(cache_root(), "digests.json")
    try:
        with open(index, encoding="utf-8") as f:
            known = json.load(f)
    except (OSError, ValueError):
        known = {}
    before = len(known)
    h = hashlib.sha256(f"xlaug-ct2-{CONVERTER_VERSION}".encode())
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = os.path.join(root, name)
            h.update(f"{os.path.relpath(path, folder)}\0{_file_digest(path, known)}\0".encode())
    if len(known) != before:
        try:  # written whole then renamed: a reader never sees half an index
            os.makedirs(cache_root(), exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".digests-", dir=cache_root())
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(known, f)
            os.replace(tmp, index)
        except OSError:
            pass  # only a cache of digests
    return h.hexdigest()[:20]


def converted(model: str, compute_type: str, offline: bool = True) -> str:
    """The CTranslate2 folder of a Hugging Face model in ``compute_type``,
    converted now when not cached yet."""
    ct2 = require_ctranslate2()
    source = _local_folder(model, offline)
    target = os.path.join(cache_root(), f"{files_key(source)}-{compute_type}")
    if is_ct2_folder(target):
        return target
    os.makedirs(cache_root(), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".converting-", dir=cache_root())
    try:
        from transformers.utils import logging as hf_logging
        out = os.path.join(tmp, "model")
        hf_logging.disable_progress_bar()
        try:
            ct2.converters.TransformersConverter(source).convert(out, quantization=compute_type)
        finally:
            hf_logging.enable_progress_bar()
        with open(os.path.join(out, "xlaug-source.json"), "w") as f:
            json.dump({"model": model, "compute_type": compute_type}, f)
        try:
            os.rename(out, target)
        except OSError:
            if not is_ct2_folder(target):  # not another worker's finished copy: a real failure
                raise
    except ModelLoadError:
        raise
    except Exception as e:
        raise ModelLoadError(f"model '{model}' could not be converted to CTranslate2: "
                             f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def resolve_device(option: str, ct2) -> tuple[str, int]:
    """``auto`` | ``cpu`` | ``cuda`` | ``cuda:N`` -> (device, index) for CTranslate2."""
    option = (option or "auto").strip()
    gpus = ct2.get_cuda_device_count()
    if option == "auto":
        return ("cuda", 0) if gpus else ("cpu", 0)
    kind, _, index = option.partition(":")
    if kind == "cpu":
        return "cpu", 0
    if kind != "cuda" or (index and not index.isdigit()):
        raise ModelLoadError(f"device {option!r} is not available to the ct2 engine (auto, cpu, cuda, cuda:N)")
    index = int(index or 0)
    if index >= gpus:
        raise ModelLoadError(f"device {option} requested but CTranslate2 sees {gpus} CUDA device(s)")
    return "cuda", index


class Ct2Translator(Translator):
    """``Translator`` whose model is a ``ctranslate2.Translator``.

    compute_type: one of COMPUTE_TYPES; default int8 on CPU, float16 on GPU.
    ct2_model:    a CTranslate2 folder to use as it is (else the model is converted).
    """

    def __init__(self, model: str, *, compute_type: str | None = None, ct2_model: str | None = None, **kw):
        super().__init__(model, **kw)
        if compute_type is not None and compute_type not in COMPUTE_TYPES:
            raise ValueError(f"compute_type must be one of {', '.join(COMPUTE_TYPES)}, not {compute_type!r}")
        self.compute_type_option, self.ct2_model = compute_type, ct2_model

    def load(self) -> "Ct2Translator":
        self.load_tokenizer()
        if self.model is not None:
            return self
        ct2 = require_ctranslate2()
        device, index = resolve_device(self.device_option, ct2)
        compute_type = self.compute_type_option or ("float16" if device == "cuda" else "int8")
        if compute_type not in ct2.get_supported_compute_types(device, index):
            raise ModelLoadError(f"compute type {compute_type} is not supported on {device} here "
                                 f"(supported: {', '.join(sorted(ct2.get_supported_compute_types(device, index)))})")
        if self.ct2_model:
            if not is_ct2_folder(self.ct2_model):
                raise ModelLoadError(f"'{self.ct2_model}' is not a CTranslate2 model folder (no model.bin)")
            folder = os.path.expanduser(self.ct2_model)
        else:
            folder = converted(self.model_name, compute_type, offline=self._offline())
        self.device, self.compute_type = device, compute_type
        try:
            # One decoding thread pool per process: batches come one at a time.
            self.model = ct2.Translator(folder, device=device, device_index=index, compute_type=compute_type,
                                        inter_threads=1, intra_threads=int(self.threads or 0))
        except (RuntimeError, ValueError, OSError) as e:
            raise ModelLoadError(f"CTranslate2 model '{folder}' could not be loaded: {str(e).splitlines()[0]}") from None
        self._forced_eos = self._forced_eos_id() == self.tokenizer.eos_token_id
        return self

    def _forced_eos_id(self):
        """The EOS that transformers' generate forces at the length limit, if any."""
        from transformers import GenerationConfig
        try:
            gen = GenerationConfig.from_pretrained(self.model_name, local_files_only=self._offline())
            forced = getattr(gen, "forced_eos_token_id", None)
        except (OSError, ValueError):
            forced = None
        if forced is None:
            forced = getattr(self.config, "forced_eos_token_id", None)
        return forced[0] if isinstance(forced, list) and forced else forced

    # -- decoding ------------------------------------------------------------
    def _limits(self, decoding: Decoding) -> tuple[int, bool]:
        """(max decoding length, whether a forced EOS closes hypotheses at the limit)."""
        wanted = self._max_new_tokens(decoding.max_new_tokens)
        if self._forced_eos:
            return max(1, wanted - 1), True
        return wanted, False

    def _prefixes(self, count: int) -> list[list[str]] | None:
        return [[self.tgt_code] for _ in range(count)] if self.tgt_code is not None else None

    def _vocab(self) -> list[str]:
        """id -> token of the tokenizer, made once (per-id look-ups cost more than decoding)."""
        if getattr(self, "_id_to_token", None) is None:
            self._id_to_token = self.tokenizer.convert_ids_to_tokens(list(range(len(self.tokenizer))))
            self._token_to_id = {t: i for i, t in enumerate(self._id_to_token)}
        return self._id_to_token

    def _generate(self, encoded: list[list[int]], keys: list[str], decoding: Decoding):
        tok = self.tokenizer
        vocab = self._vocab()
        source = [[vocab[i] for i in e] for e in encoded]
        if decoding.mode == "sample":
            return self._sample(source, keys, decoding)
        limit, forced = self._limits(decoding)
        beams = 1 if decoding.mode == "greedy" else max(decoding.num_beams, decoding.n)
        results = self.model.translate_batch(
            source, self._prefixes(len(source)), beam_size=beams, num_hypotheses=decoding.n,
            length_penalty=1.0, max_decoding_length=limit, max_input_length=0,
            return_scores=True, return_end_token=True)
        eos, unk, to_id = tok.eos_token, tok.unk_token_id, self._token_to_id
        rows, scores = [], []
        for result in results:
            for tokens, score in zip(result.hypotheses, result.scores):
                if forced and not (tokens and tokens[-1] == eos):
                    # The hf engine ends this hypothesis with a forced EOS of log-prob 0.
                    score = score * len(tokens) / (len(tokens) + 1)
                rows.append([to_id.get(t, unk) for t in tokens])
                scores.append(float(score))
        texts = decode_rows(tok, rows)
        per_row = [(t.strip(), s) for t, s in zip(texts, scores)]
        n = decoding.n
        return [per_row[i * n:(i + 1) * n] for i in range(len(results))]

    def _sample(self, source: list[list[str]], keys: list[str], decoding: Decoding):
        """Token by token, with one generator per (input, draw) as in the hf engine."""
        import numpy as np
        import torch
        n = decoding.n
        rows = [s for s in source for _ in range(n)]
        seeds = [row_seed(decoding.seed, k, s) for k in keys for s in range(n)]
        picker = _make_picker(decoding, seeds, "cpu")
        limit, forced = self._limits(decoding)
        start = self._prefixes(len(rows)) or [[] for _ in rows]
        prefixes = [list(p) for p in start]
        logps = [[] for _ in rows]
        done = [False] * len(rows)
        eos = self.tokenizer.eos_token
        unk = self.tokenizer.unk_token
        for _ in range(limit - len(start[0])):
            active = [r for r in range(len(rows)) if not done[r]]
            results = self.model.translate_batch(
                [rows[r] for r in active], [prefixes[r] for r in active], beam_size=1,
                max_decoding_length=len(prefixes[active[0]]) + 1, max_input_length=0,
                return_logits_vocab=True, return_end_token=True)
            # The next-token logits after each row's prefix (the tokenizer's
            # vocabulary, less a trailing <pad> for Marian).  Finished rows get
            # a dummy row: their generators still draw, as in the hf engine.
            last = [torch.from_numpy(np.asarray(result.logits[0][-1])).float() for result in results]
            logits = torch.zeros((len(rows), last[0].shape[0]))
            for r, row in zip(active, last):
                logits[r] = row
            picker.logps.clear()
            picker(None, logits)
            chosen = picker.last_chosen.tolist()
            for r in active:
                token = self.tokenizer.convert_ids_to_tokens(chosen[r]) or unk
                prefixes[r].append(token)
                logps[r].append(float(picker.logps[0][r]))
                done[r] = token == eos
            if all(done):
                break
        out = []
        for r in range(len(rows)):
            tokens = prefixes[r]
            total = sum(logps[r])
            length = len(tokens) + (1 if forced and not done[r] else 0)
            # Prefix tokens (the target language code) are forced: log-prob 0, counted in the length.
            text = self.tokenizer.decode(self.tokenizer.convert_tokens_to_ids(tokens), skip_special_tokens=True)
            out.append((text.strip(), total / max(1, length)))
        return [out[i * n:(i + 1) * n] for i in range(len(keys))]
