"""Hugging Face seq2seq translation, as plain Python (no Beam).

``Translator`` loads a model by hub id or local directory, works out its family
(Marian/OPUS-MT, NLLB, M2M100, T5/mT5) and the language codes it wants, and
``translate(texts)`` returns plain data: for each text a list of
``(hypothesis, mean log-prob)``.  Batches are formed by length under a token
budget because padding is what costs time.

Greedy and sampled decoding pick tokens in ``_RowPicker`` (a logits processor)
so that every output row has its own random generator, seeded from the seed and
the row's key: a sampled hypothesis depends on its input and key, not on which
other inputs shared its batch (up to floating-point differences from padding).
torch and transformers are imported inside functions: importing this module is cheap.
"""
from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass

from xlaug.transforms.models import ModelLoadError, _is_local, check_model_available  # noqa: F401
from xlaug.transforms.seeding import seeded_hash

# ISO 639-1 -> NLLB code.  Users may also pass the model's own codes directly.
NLLB_CODES = {
    "ar": "arb_Arab", "bg": "bul_Cyrl", "bn": "ben_Beng", "ca": "cat_Latn", "cs": "ces_Latn",
    "da": "dan_Latn", "de": "deu_Latn", "el": "ell_Grek", "en": "eng_Latn", "es": "spa_Latn",
    "et": "est_Latn", "eu": "eus_Latn", "fa": "pes_Arab", "fi": "fin_Latn", "fr": "fra_Latn",
    "ga": "gle_Latn", "gl": "glg_Latn", "he": "heb_Hebr", "hi": "hin_Deva", "hr": "hrv_Latn",
    "hu": "hun_Latn", "id": "ind_Latn", "it": "ita_Latn", "ja": "jpn_Jpan", "ko": "kor_Hang",
    "lt": "lit_Latn", "lv": "lvs_Latn", "mt": "mlt_Latn", "nl": "nld_Latn", "no": "nob_Latn",
    "pl": "pol_Latn", "pt": "por_Latn", "ro": "ron_Latn", "ru": "rus_Cyrl", "sk": "slk_Latn",
    "sl": "slv_Latn", "sv": "swe_Latn", "sw": "swh_Latn", "ta": "tam_Taml", "th": "tha_Thai",
    "tr": "tur_Latn", "uk": "ukr_Cyrl", "ur": "urd_Arab", "vi": "vie_Latn", "zh": "zho_Hans",
}
# Language names for T5-style task prefixes ("translate English to German: ").
LANG_NAMES = {
    "en": "English", "de": "German", "fr": "French", "ro": "Romanian", "es": "Spanish",
    "it": "Italian", "pt": "Portuguese", "nl": "Dutch", "ru": "Russian", "zh": "Chinese",
    "ja": "Japanese", "cs": "Czech", "pl": "Polish", "fi": "Finnish", "sv": "Swedish",
}
_NLLB_SHAPE = re.compile(r"^[a-z]{3}_[A-Z][a-z]{3}$")
_M2M_SHAPE = re.compile(r"^__[A-Za-z_-]+__$")
FAMILIES = ("marian", "nllb", "m2m", "t5")
DECODING_MODES = ("beam", "greedy", "sample")


@dataclass(frozen=True)
class Decoding:
    """How to decode.  ``n`` hypotheses per input (beam: the n best; sample: n draws).

    ``seed`` only matters for ``sample``.  ``max_new_tokens`` is capped at the
    model's position limit.
    """
    mode: str = "beam"
    num_beams: int = 4
    n: int = 1
    top_k: int = 0
    top_p: float = 1.0
    temperature: float = 1.0
    seed: int = 0
    max_new_tokens: int = 256

    def __post_init__(self):
        if self.mode not in DECODING_MODES:
            raise ValueError(f"decoding must be one of {', '.join(DECODING_MODES)}, not {self.mode!r}")
        if self.n < 1:
            raise ValueError("n must be at least 1")
        if self.mode == "greedy" and self.n > 1:
            raise ValueError("n > 1 needs beam or sample decoding (greedy gives one hypothesis)")
        if self.temperature <= 0:
            raise ValueError("temperature must be > 0")
        if not 0 < self.top_p <= 1:
            raise ValueError("top_p must be in (0, 1]")
        if self.top_k < 0 or self.num_beams < 1 or self.max_new_tokens < 1:
            raise ValueError("top_k >= 0, num_beams >= 1 and max_new_tokens >= 1 are required")

    def params(self) -> dict:
        """The parameters that matter for this mode (for provenance)."""
        p = asdict(self)
        if self.mode != "sample":
            for k in ("top_k", "top_p", "temperature", "seed"):
                p.pop(k)
        if self.mode != "beam":
            p.pop("num_beams")
        return p


def row_seed(seed: int, key: str, sample: int) -> int:
    """Seed of one output row: stable across processes (no Python ``hash``)."""
    return seeded_hash(seed, "generate", key, sample) & ((1 << 63) - 1)


class Translator:
    """One seq2seq model and one direction.

    model:        hub id or local directory.
    src_lang/tgt_lang: user codes (``de``) or the model's own (``deu_Latn``, ``__de__``).
    family:       ``auto`` or one of FAMILIES (auto looks at the tokenizer's
                  language tokens and the config's model type).
    prefix:       T5 task prefix; default built from LANG_NAMES.
    device:       ``auto`` | ``cpu`` | ``cuda`` | ``cuda:N``.
    dtype:        ``float32`` | ``float16`` | ``bfloat16`` (half types on GPU only).
    threads:      torch CPU threads of this process (None leaves torch's setting alone;
                  set once per process, see xlaug.transforms.worker).
    batch_tokens: budget of padded source tokens x hypotheses per generate call.
    max_batch_size: most inputs per generate call.
    sort:         sort by length before batching (off only to measure its effect).
    max_input_tokens: input limit (default: the model's position limit).
    """

    def __init__(self, model: str, *, src_lang: str | None = None, tgt_lang: str | None = None,
                 family: str = "auto", prefix: str | None = None, device: str = "auto",
                 dtype: str = "float32", threads: int | None = None, batch_tokens: int = 4096,
                 max_batch_size: int = 64, sort: bool = True, max_input_tokens: int | None = None):
        if family != "auto" and family not in FAMILIES:
            raise ValueError(f"family must be auto or one of {', '.join(FAMILIES)}")
        if dtype not in ("float32", "float16", "bfloat16"):
            raise ValueError(f"dtype must be float32, float16 or bfloat16, not {dtype!r}")
        if batch_tokens < 1 or max_batch_size < 1:
            raise ValueError("batch_tokens and max_batch_size must be positive")
        self.model_name = model
        self.src_lang, self.tgt_lang = src_lang, tgt_lang
        self.family_option, self.prefix_option = family, prefix
        self.device_option, self.dtype, self.threads = device, dtype, threads
        self.batch_tokens, self.max_batch_size, self.sort = batch_tokens, max_batch_size, sort
        self.max_input_option = max_input_tokens
        self.tokenizer = None
        self.model = None
        self.config = None

    # -- loading ----------------------------------------------------------
    def _offline(self) -> bool:
        return _is_local(self.model_name) or os.environ.get("HF_HUB_OFFLINE") == "1"

    def load_tokenizer(self) -> "Translator":
        """Tokenizer and config only: enough to count tokens and split inputs."""
        if self.tokenizer is not None:
            return self
        check_model_available(self.model_name)
        from transformers import AutoConfig, AutoTokenizer
        try:
            self.config = AutoConfig.from_pretrained(self.model_name, local_files_only=self._offline())
            self.tokenizer = AutoTokenizer.from_pretrained(self.model_name, local_files_only=self._offline())
        except (OSError, ValueError, KeyError) as e:
            raise ModelLoadError(f"model '{self.model_name}' could not be loaded: {str(e).splitlines()[0]}") from None
        self._resolve_languages()
        return self

    def load(self) -> "Translator":
        """Tokenizer, config and model on the chosen device; once per worker."""
        self.load_tokenizer()
        if self.model is not None:
            return self
        import torch
        from transformers import AutoModelForSeq2SeqLM

        from xlaug.transforms.quiet import load_pretrained
        from xlaug.transforms.worker import resolve_device, set_torch_threads
        set_torch_threads(self.threads)
        self.device = resolve_device(self.device_option)
        dtype = getattr(torch, self.dtype) if self.device.type == "cuda" else torch.float32
        try:
            model = load_pretrained(AutoModelForSeq2SeqLM, self.model_name,
                                    local_files_only=self._offline(), dtype=dtype)
        except (OSError, ValueError, KeyError) as e:
            raise ModelLoadError(f"model '{self.model_name}' could not be loaded: {str(e).splitlines()[0]}") from None
        self.model = model.to(self.device).eval()
        return self

    # -- families and language codes ---------------------------------------
    def _has_token(self, token: str) -> bool:
        tok = self.tokenizer
        tid = tok.convert_tokens_to_ids(token)
        return tid is not None and tid != tok.unk_token_id

    def _resolve_languages(self) -> None:
        model_type = getattr(self.config, "model_type", "")
        family = self.family_option
        if family == "auto":
            if model_type in ("t5", "mt5", "umt5"):
                family = "t5"
            elif self._has_token("eng_Latn") or "nllb" in type(self.tokenizer).__name__.lower():
                family = "nllb"
            elif self._has_token("__en__") or model_type == "m2m_100":
                family = "m2m"
            else:
                family = "marian"
        self.family = family
        self.src_code = self._code(self.src_lang, "source")
        self.tgt_code = self._code(self.tgt_lang, "target")
        if family == "t5":
            if self.prefix_option is not None:
                self.prefix = self.prefix_option
            else:
                names = [LANG_NAMES.get(c or "") for c in (self.src_lang, self.tgt_lang)]
                if None in names:
                    raise ModelLoadError(
                        f"model '{self.model_name}' is T5-type: give a task prefix (--prefix), "
                        f"no name known for {self.src_lang!r}->{self.tgt_lang!r}")
                self.prefix = f"translate {names[0]} to {names[1]}: "
        else:
            self.prefix = self.prefix_option or ""

    def _code(self, lang: str | None, which: str) -> str | None:
        """The model's language token for ``lang`` (None for Marian/T5)."""
        if self.family not in ("nllb", "m2m"):
            return None
        if not lang:
            raise ModelLoadError(f"model '{self.model_name}' ({self.family}) needs a {which} language")
        # The model's own code first (deu_Latn, __de__), else the mapped ISO code.
        # Only code-shaped tokens count: "en" is also an ordinary subword.
        if self.family == "nllb":
            candidates = [lang if _NLLB_SHAPE.match(lang) else NLLB_CODES.get(lang, "")]
        else:
            candidates = [lang if _M2M_SHAPE.match(lang) else f"__{lang}__"]
        for code in candidates:
            if code and self._lang_id(code) is not None:
                return code
        raise ModelLoadError(f"model '{self.model_name}' has no language code for {which} language {lang!r} "
                             f"(tried {', '.join(c for c in candidates if c)})")

    def _lang_id(self, code: str) -> int | None:
        tok = self.tokenizer
        # Real M2M100Tokenizer maps bare codes ("de") through get_lang_id.
        if self.family == "m2m" and hasattr(tok, "get_lang_id") and not code.startswith("__"):
            try:
                return int(tok.get_lang_id(code))
            except (KeyError, ValueError):
                return None
        return tok.convert_tokens_to_ids(code) if self._has_token(code) else None

    # -- limits and encoding ------------------------------------------------
    @property
    def max_input_tokens(self) -> int:
        if self.max_input_option:
            return int(self.max_input_option)
        limits = [getattr(self.config, "max_position_embeddings", None),
                  getattr(self.tokenizer, "model_max_length", None)]
        limits = [int(x) for x in limits if isinstance(x, int) and 0 < x < 1_000_000]
        return min(limits) if limits else 512

    def _max_new_tokens(self, wanted: int) -> int:
        # Learned/sinusoidal decoder positions cap the output length (T5 has none).
        limit = getattr(self.config, "max_position_embeddings", None)
        if isinstance(limit, int) and self.family != "t5":
            return max(1, min(wanted, limit - 1))
        return wanted

    def encode(self, text: str) -> list[int]:
        """Token ids of one input exactly as the model sees it (prefix, codes, EOS)."""
        tok = self.tokenizer
        if self.family in ("nllb", "m2m") and hasattr(tok, "src_lang"):
            tok.src_lang = self.src_code  # real NLLB/M2M tokenizers add the code themselves
        if getattr(tok, "is_fast", False):
            # The Rust tokenizer directly: what ``tok(...)`` returns, without its
            # per-call Python overhead (the same ids; tests compare both).
            ids = tok.backend_tokenizer.encode(self.prefix + text, add_special_tokens=True).ids
        else:
            # verbose=False: an input over the model's limit is chunked or rejected by policy.
            ids = list(tok(self.prefix + text, add_special_tokens=True, verbose=False)["input_ids"])
        if self.src_code is not None:
            code_id = self._lang_id(self.src_code)
            if code_id not in ids[:1]:
                ids = [code_id] + ids
        return ids

    def count_tokens(self, texts: list[str]) -> list[int]:
        return [len(self.encode(t)) for t in texts]

    def generate_kwargs(self, decoding: Decoding) -> dict:
        """Keyword arguments for ``model.generate`` (without inputs and picker)."""
        kw = {"max_new_tokens": self._max_new_tokens(decoding.max_new_tokens),
              "return_dict_in_generate": True}
        if self.tgt_code is not None:
            kw["forced_bos_token_id"] = self._lang_id(self.tgt_code)
        if decoding.mode == "beam":
            kw.update(do_sample=False, num_beams=max(decoding.num_beams, decoding.n),
                      num_return_sequences=decoding.n, length_penalty=1.0, output_scores=True)
        else:
            kw.update(do_sample=False, num_beams=1)
        return kw

    # -- translation -------------------------------------------------------
    def batches(self, lengths: list[int], rows_per_input: int = 1) -> list[list[int]]:
        """Index batches: (sorted by length unless sort is off), each within
        max_batch_size inputs and batch_tokens padded tokens x rows_per_input."""
        order = sorted(range(len(lengths)), key=lambda i: lengths[i]) if self.sort \
            else list(range(len(lengths)))
        out, cur, longest = [], [], 0
        for i in order:
            new_longest = max(longest, lengths[i])
            if cur and (len(cur) >= self.max_batch_size
                        or new_longest * (len(cur) + 1) * rows_per_input > self.batch_tokens):
                out.append(cur)
                cur, new_longest = [], lengths[i]
            cur.append(i)
            longest = new_longest
        if cur:
            out.append(cur)
        return out

    def translate(self, texts: list[str], keys: list[str] | None = None,
                  decoding: Decoding | None = None, **decoding_kw) -> list[list[tuple[str, float]]]:
        """For each text, ``decoding.n`` pairs (hypothesis, mean token log-prob), best first
        for beam.  ``keys`` seed sampling per input (default: the text itself)."""
        decoding = decoding or Decoding(**decoding_kw)
        if self.model is None:
            self.load()
        keys = list(keys) if keys is not None else list(texts)
        return self.translate_encoded([self.encode(t) for t in texts], keys, decoding)

    def translate_encoded(self, encoded: list[list[int]], keys: list[str],
                          decoding: Decoding) -> list[list[tuple[str, float]]]:
        """``translate`` for inputs already encoded with ``encode``."""
        if self.model is None:
            self.load()
        results: list = [None] * len(encoded)
        rows = decoding.n if decoding.mode == "sample" else max(decoding.num_beams, decoding.n)
        for idx in self.batches([len(e) for e in encoded], rows):
            hyps = self._generate([encoded[i] for i in idx], [keys[i] for i in idx], decoding)
            for i, h in zip(idx, hyps):
                results[i] = h
        return results

    def _generate(self, encoded: list[list[int]], keys: list[str], decoding: Decoding):
        import torch
        pad = self.tokenizer.pad_token_id
        n = decoding.n
        if decoding.mode == "sample" and n > 1:
            # One row per draw, so each draw has its own generator.
            encoded = [e for e in encoded for _ in range(n)]
        width = max(len(e) for e in encoded)
        ids = torch.full((len(encoded), width), pad, dtype=torch.long)
        mask = torch.zeros((len(encoded), width), dtype=torch.long)
        for r, e in enumerate(encoded):  # right padding, as the tokenizers do
            ids[r, :len(e)] = torch.tensor(e)
            mask[r, :len(e)] = 1
        kw = self.generate_kwargs(decoding)
        picker = None
        if decoding.mode == "greedy":
            # Plain greedy: the log-prob of each chosen token comes from the
            # processed scores afterwards (a picker would cost a call per step).
            kw["output_scores"] = True
        elif decoding.mode == "sample":
            from transformers import LogitsProcessorList
            seeds = [row_seed(decoding.seed, k, s) for k in keys
                     for s in range(n if decoding.mode == "sample" else 1)]
            picker = _make_picker(decoding, seeds, self.device)
            kw["logits_processor"] = LogitsProcessorList([picker])
        with torch.inference_mode():
            out = self.model.generate(input_ids=ids.to(self.device), attention_mask=mask.to(self.device), **kw)
        seqs = out.sequences
        texts = self.tokenizer.batch_decode(seqs, skip_special_tokens=True)
        if decoding.mode == "beam":
            scores = out.sequences_scores.float().tolist()
        elif decoding.mode == "greedy":
            scores = greedy_logprobs(out.scores, seqs[:, 1:], self.tokenizer.eos_token_id)
        else:
            scores = picker.mean_logprobs(seqs[:, 1:], self.tokenizer.eos_token_id)
        per_row = [(t.strip(), float(s)) for t, s in zip(texts, scores)]
        return [per_row[i * n:(i + 1) * n] for i in range(len(keys))]


def decode_rows(tokenizer, rows: list[list[int]]) -> list[str]:
    """``tokenizer.batch_decode(rows, skip_special_tokens=True)`` for lists of ids.
    A plain fast tokenizer decodes each row in Rust directly: batch_decode
    first checks every id of the batch in Python (``to_py_obj``), which cost
    more than the decoding.  Anything else goes through batch_decode."""
    from transformers import PreTrainedTokenizerBase
    from transformers.tokenization_utils_tokenizers import TokenizersBackend
    kind = type(tokenizer)
    if (isinstance(tokenizer, TokenizersBackend) and kind._decode is TokenizersBackend._decode
            and kind.decode is PreTrainedTokenizerBase.decode
            and kind.batch_decode is PreTrainedTokenizerBase.batch_decode
            and not tokenizer.clean_up_tokenization_spaces):
        decode = tokenizer.backend_tokenizer.decode
        return [decode(row, skip_special_tokens=True) for row in rows]
    return tokenizer.batch_decode(rows, skip_special_tokens=True)


def _mean_to_eos(lp, generated, eos_id) -> list[float]:
    """Mean of per-token log-probs ``lp`` [rows, steps] up to and including each row's first EOS."""
    is_eos = (generated[:, :lp.shape[1]] == eos_id).long()
    before_eos = (is_eos.cumsum(-1) - is_eos) == 0  # positions up to the first EOS
    total = (lp * before_eos).sum(-1)
    count = before_eos.sum(-1).clamp(min=1)
    return (total / count).tolist()


def greedy_logprobs(step_scores, generated, eos_id) -> list[float]:
    """Mean log-prob of greedy outputs from generate's processed scores (one
    [rows, vocab] tensor per step): the log-softmax at each chosen token."""
    import torch
    if not step_scores:
        return [0.0] * generated.shape[0]
    steps = min(len(step_scores), generated.shape[1])
    lp = torch.stack([torch.log_softmax(s.float(), dim=-1).gather(-1, generated[:, i:i + 1]).squeeze(-1)
                      for i, s in enumerate(step_scores[:steps])], dim=1)
    return _mean_to_eos(lp, generated, eos_id)


def _make_picker(decoding: Decoding, seeds: list[int], device):
    """A logits processor that chooses each row's next token itself (argmax or a
    draw from that row's own generator), records its log-prob, and masks the
    rest so generate's greedy step takes it."""
    import torch
    from transformers import LogitsProcessor

    class _RowPicker(LogitsProcessor):
        def __init__(self):
            self.sample = decoding.mode == "sample"
            self.gens = []
            if self.sample:
                for s in seeds:
                    g = torch.Generator(device=device)
                    g.manual_seed(s)
                    self.gens.append(g)
            self.logps = []

        def __call__(self, input_ids, scores):
            scores = scores.float()
            logp = torch.log_softmax(scores, dim=-1)
            if self.sample:
                chosen = self._draw(scores)
            else:
                chosen = scores.argmax(dim=-1, keepdim=True)
            self.logps.append(logp.gather(-1, chosen).squeeze(-1))
            self.last_chosen = chosen.squeeze(-1)
            out = torch.full_like(scores, float("-inf"))
            return out.scatter_(-1, chosen, 0.0)

        def _draw(self, scores):
            x = scores / decoding.temperature
            if decoding.top_k and decoding.top_k < x.shape[-1]:
                kth = torch.topk(x, decoding.top_k, dim=-1).values[:, -1:]
                x = x.masked_fill(x < kth, float("-inf"))
            probs = torch.softmax(x, dim=-1)
            if decoding.top_p < 1.0:
                sp, si = torch.sort(probs, descending=True, dim=-1)
                drop = sp.cumsum(-1) - sp > decoding.top_p  # keep the smallest set reaching top_p
                sp = sp.masked_fill(drop, 0.0)
                probs = torch.zeros_like(probs).scatter_(-1, si, sp)
            return torch.stack([torch.multinomial(probs[r], 1, generator=self.gens[r])
                                for r in range(probs.shape[0])])

        def mean_logprobs(self, generated, eos_id):
            """Mean log-prob per row over tokens up to and including the first EOS."""
            if not self.logps:
                return [0.0] * generated.shape[0]
            lp = torch.stack(self.logps, dim=1)[:, :generated.shape[1]]
            return _mean_to_eos(lp, generated, eos_id)

    return _RowPicker()
