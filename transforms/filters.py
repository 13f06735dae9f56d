"""Quality filters: each computes scores, then a threshold decides.

Scoring is kept apart from deciding (as in OpusFilter) so that scores stay on
the record, the report can show their distributions, and thresholds can
change without rescoring.

This module imports neither Beam nor langid at load time (the CLI reads its
defaults); ``FilterStep`` in transforms/filter_step.py runs the filters.

Filters are built from plain keyword options (``build_filters`` takes the
YAML-able mapping ``{filter_name: {option: value}}``).  A score a filter
cannot compute (no target side, no alignment, no language code) is simply
absent, and a missing score passes unless the filter was told to require it.

``thresholds`` map a score to one ``(op, value)``, op ``">="`` or ``"<="``
(for two-sided length bounds, the upper one), for the report's histograms.
"""
from __future__ import annotations

import inspect

from transforms.langcodes import LANGID_LANGUAGES, to_iso1
from transforms.record import Record

SIDES = ("src", "tgt")


class FilterConfigError(ValueError):
    """An unknown filter, an unknown option or a bad option value."""


class Filter:
    """Base class.  ``score`` returns {score_name: value}; ``accept`` turns
    scores into (ok, reason).  ``score_ranges`` gives each score's histogram
    range; ``thresholds`` each score's (op, value) decision for the report."""

    name = "filter"
    score_ranges: dict = {}

    @property
    def thresholds(self) -> dict:
        return {}

    def setup(self) -> None:
        """Load tables or models once per worker."""

    def score(self, record: Record) -> dict[str, float]:
        raise NotImplementedError

    def score_batch(self, records: list[Record]) -> list[dict[str, float]]:
        """Scores of many records; override where batching pays."""
        return [self.score(r) for r in records]

    def failures(self, scores: dict[str, float]) -> list[tuple[str, str]]:
        """Every (reason, detail) the scores fail; empty when accepted."""
        raise NotImplementedError

    def accept(self, scores: dict[str, float]) -> tuple[bool, str | None]:
        fails = self.failures(scores)
        return (False, fails[0][0]) if fails else (True, None)


def _option_names(cls) -> list[str]:
    sig = inspect.signature(cls.__init__)
    return [p.name for p in sig.parameters.values()
            if p.kind == p.KEYWORD_ONLY]


def _check_range(name: str, lo, hi) -> None:
    if lo is not None and hi is not None and lo > hi:
        raise FilterConfigError(f"filter '{name}': minimum {lo} is above maximum {hi}")


def _fmt(x: float) -> str:
    return f"{x:.3g}"


# ---------------------------------------------------------------- langid ----

class _LangidModel:
    """langid.py's naive Bayes model, folded per tokenizer state.

    langid builds a dense 7480-feature count vector per text and multiplies it
    with the feature x language table.  The sum is linear, so each state of
    its byte automaton can carry the summed log-probabilities of the features
    it emits: a text's scores are then the sum of the rows of the states it
    passes through, and a whole batch is one gather plus one segmented sum.
    Same numbers as langid, many times cheaper.
    """

    # Below this many texts still running, stepping them one by one in
    # Python beats one numpy call per byte position (measured: ~1 us per byte
    # in Python against ~15 us per numpy step).
    LOCKSTEP_MIN_ROWS = 16
    # Longer texts are walked alone, so one huge line cannot blow the
    # texts x longest-text matrices up.
    LOCKSTEP_MAX_BYTES = 4096

    def __init__(self):
        import numpy as np
        from langid.langid import LanguageIdentifier, model

        ident = LanguageIdentifier.from_modelstring(model, norm_probs=True)
        self.ident = ident  # langid's own classifier, for comparison
        self.np = np
        self.nextmove = np.asarray(ident.tk_nextmove, dtype=np.int64)
        self.nextmove_array = ident.tk_nextmove  # array.array: fast to index from Python
        ptc = np.asarray(ident.nb_ptc, dtype=np.float64)
        n_states = int(max(self.nextmove.max(), max(ident.tk_output))) + 1
        table = np.zeros((n_states, ptc.shape[1]), dtype=np.float64)
        for state, feats in ident.tk_output.items():
            if feats:
                table[state] = ptc[list(feats)].sum(axis=0)
        self.table = table
        self.n_states = n_states
        self._sub: dict = {}
        self.emits = np.zeros(n_states, dtype=bool)  # states that emit any feature
        self.emits[[s for s, feats in ident.tk_output.items() if feats]] = True
        self.pc = np.asarray(ident.nb_pc, dtype=np.float64)
        self.classes = [str(c) for c in ident.nb_classes]
        self.index = {c: i for i, c in enumerate(self.classes)}

    def log_probs_batch(self, texts: list[str], cols=None):
        """(len(texts), n_langs) unnormalised log P(text, lang); only the
        language columns ``cols`` (indices into ``classes``) when given."""
        np = self.np
        n = len(texts)
        table, pc = self._columns(cols)
        out = np.tile(pc, (n, 1))
        encoded = [t.encode("utf-8") for t in texts]
        lengths = np.fromiter((len(e) for e in encoded), dtype=np.int64, count=n)
        rows, seen = [], []
        # Very long texts walk alone: a lock-step matrix is texts x longest.
        for i in np.flatnonzero(lengths > self.LOCKSTEP_MAX_BYTES):
            path = self._walk(encoded[i], 0)
            rows.append(np.full(len(path), i, dtype=np.int64))
            seen.append(np.asarray(path, dtype=np.int64))
        short = np.flatnonzero((lengths <= self.LOCKSTEP_MAX_BYTES) & (lengths > 0))
        if len(short):
            r, st = self._walk_lockstep([encoded[i] for i in short], lengths[short])
            rows.append(short[r])
            seen.append(st)
        if not rows:
            return out
        rows, seen = np.concatenate(rows), np.concatenate(seen)
        emits = self.emits[seen]
        keys, counts = np.unique(rows[emits] * self.n_states + seen[emits], return_counts=True)
        if len(keys) == 0:
            return out
        text_of, state_of = np.divmod(keys, self.n_states)
        contrib = table[state_of] * counts[:, None]
        starts = np.flatnonzero(np.r_[True, text_of[1:] != text_of[:-1]])
        out[text_of[starts]] += np.add.reduceat(contrib, starts, axis=0)
        return out

    def _walk(self, data: bytes, state: int) -> list[int]:
        """The automaton's states over ``data``, one Python step per byte."""
        move = self.nextmove_array
        path = []
        for byte in data:
            state = move[(state << 8) + byte]
            path.append(state)
        return path

    def _walk_lockstep(self, encoded: list[bytes], lengths):
        """(text index, state) for every byte of every text, all texts
        stepped together: one numpy step per byte position instead of one
        Python step per byte."""
        np = self.np
        n = len(encoded)
        # Longest first, so at byte position t the texts still running are a
        # prefix and one long text does not make every row step to its end.
        order = np.argsort(-lengths, kind="stable")
        encoded = [encoded[i] for i in order]
        lengths = lengths[order]
        width = int(lengths[0])
        valid = np.arange(width)[None, :] < lengths[:, None]
        data = np.zeros((n, width), dtype=np.int64)
        data[valid] = np.frombuffer(b"".join(encoded), dtype=np.uint8)  # row-major = joined order
        states = np.zeros((n, width), dtype=np.int64)
        state = np.zeros(n, dtype=np.int64)
        nextmove = self.nextmove
        running = np.searchsorted(-lengths, -np.arange(width), side="left")  # rows with length > t
        t = 0
        while t < width and running[t] >= self.LOCKSTEP_MIN_ROWS:
            k = running[t]
            state[:k] = nextmove[(state[:k] << 8) | data[:k, t]]
            states[:k, t] = state[:k]
            t += 1
        # The few long texts left: stepping them alone is cheaper than a
        # numpy call per byte position.
        for i in range(running[t] if t < width else 0):
            path = self._walk(encoded[i][t:], int(state[i]))
            states[i, t:t + len(path)] = path
        rows = np.broadcast_to(order[:, None], (n, width))[valid]
        return rows, states[valid]

    def log_probs(self, text: str):
        return self.log_probs_batch([text])[0]

    def _columns(self, cols):
        """(table, prior) restricted to some languages; cached, since with a
        handful of candidates the gather moves a tenth of the memory."""
        if cols is None:
            return self.table, self.pc
        key = tuple(int(c) for c in cols)
        hit = self._sub.get(key)
        if hit is None:
            hit = (self.np.ascontiguousarray(self.table[:, key]), self.pc[list(key)])
            self._sub[key] = hit
        return hit


_SHARED_MODEL: _LangidModel | None = None


def langid_model() -> _LangidModel:
    """The process-wide model: unpacking langid's model string takes seconds,
    so every filter (and DoFn instance) in a worker process shares one."""
    global _SHARED_MODEL
    if _SHARED_MODEL is None:
        _SHARED_MODEL = _LangidModel()
    return _SHARED_MODEL


class LangIdFilter(Filter):
    """Language ID per side with langid.py.

    Scores ``langid_src``/``langid_tgt``: probability that the side is in its
    expected language (the record's src_lang/tgt_lang), among the candidate
    languages; ``langid_src_other``/``langid_tgt_other``: the probability of
    the most likely *other* candidate.  Candidates are ``languages`` (all 97
    langid languages when not given) plus ``extra_languages`` plus the
    record's own expected language.  A side whose code is missing or unknown
    to langid is not scored (and so passes).

    Decision: another language more likely than the expected one ->
    ``wrong_language_src``/``wrong_language_tgt``; the expected one most likely
    but below ``min_score`` -> ``low_langid_confidence``.
    """

    name = "langid"
    score_ranges = {"langid_src": (0.0, 1.0), "langid_tgt": (0.0, 1.0),
                    "langid_src_other": (0.0, 1.0), "langid_tgt_other": (0.0, 1.0)}
    # With only two candidates most texts look "confidently" like one of them;
    # these common languages keep the restriction honest.
    DEFAULT_EXTRA = ("en", "de", "fr", "es", "it", "nl", "pt", "ru")

    def __init__(self, *, min_score: float = 0.5, languages: list | None = None,
                 extra_languages: list | None = DEFAULT_EXTRA):
        if not 0.0 <= float(min_score) <= 1.0:
            raise FilterConfigError(f"filter 'langid': min_score must be in [0, 1], got {min_score}")
        self.min_score = float(min_score)
        self.languages = [to_iso1(c) for c in languages] if languages else None
        self.extra_languages = [to_iso1(c) for c in extra_languages] if extra_languages else []
        for code in (self.languages or []) + self.extra_languages:
            if code not in LANGID_LANGUAGES:
                raise FilterConfigError(f"filter 'langid': language '{code}' unknown to langid "
                                        f"(known: {' '.join(sorted(LANGID_LANGUAGES))})")
        self._model = None
        self._cols: dict = {}

    @property
    def thresholds(self) -> dict:
        return {"langid_src": (">=", self.min_score), "langid_tgt": (">=", self.min_score)}

    def setup(self) -> None:
        if self._model is None:
            self._model = langid_model()

    def __getstate__(self):
        # The model is loaded on the worker in setup(), never shipped.
        state = dict(self.__dict__)
        state["_model"] = None
        state["_cols"] = {}
        return state

    def _columns(self, expected: str):
        cols = self._cols.get(expected)
        if cols is None:
            index = self._model.index
            if self.languages is None:
                langs = set(index)
            else:
                langs = set(self.languages) | set(self.extra_languages) | {expected}
            chosen = sorted(index[c] for c in langs if c in index)
            cols = (self._model.np.asarray(chosen), chosen.index(index[expected]))
            self._cols[expected] = cols
        return cols

    def _probs(self, texts: list[str], expected: str):
        """(P(expected), max P(other)) arrays for texts, among the candidates."""
        np = self._model.np
        cols, pos = self._columns(expected)
        lp = self._model.log_probs_batch(texts, cols)
        p = np.exp(lp - lp.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        p_exp = p[:, pos].copy()
        p[:, pos] = -1.0
        other = p.max(axis=1) if len(cols) > 1 else np.zeros(len(texts))
        return p_exp, other

    def side_probs(self, text: str, expected: str) -> tuple[float, float] | None:
        """(P(expected), max P(other)) among the candidates, or None if langid
        does not know ``expected``."""
        self.setup()
        expected = to_iso1(expected)
        if expected not in self._model.index:
            return None
        p_exp, other = self._probs([text], expected)
        return float(p_exp[0]), float(other[0])

    def score(self, record: Record) -> dict[str, float]:
        return self.score_batch([record])[0]

    def score_batch(self, records: list[Record]) -> list[dict[str, float]]:
        self.setup()
        out: list[dict[str, float]] = [{} for _ in records]
        jobs: dict[str, list] = {}  # expected language -> [(record index, side, text)]
        for i, record in enumerate(records):
            for side in SIDES:
                text = record.text(side)
                expected = to_iso1(getattr(record, f"{side}_lang"))
                if text and expected in LANGID_LANGUAGES:
                    jobs.setdefault(expected, []).append((i, side, text))
        for expected, items in jobs.items():
            p_exp, other = self._probs([t for _, _, t in items], expected)
            for k, (i, side, _) in enumerate(items):
                out[i][f"langid_{side}"] = float(p_exp[k])
                out[i][f"langid_{side}_other"] = float(other[k])
        return out

    def failures(self, scores):
        fails = []
        for side in SIDES:
            p = scores.get(f"langid_{side}")
            if p is None:
                continue
            other = scores.get(f"langid_{side}_other", 0.0)
            if other > p:
                fails.append((f"wrong_language_{side}",
                              f"{side} side looks like another language "
                              f"(p={_fmt(other)} vs expected {_fmt(p)})"))
            elif p < self.min_score:
                fails.append(("low_langid_confidence",
                              f"{side} side langid p={_fmt(p)} < {_fmt(self.min_score)}"))
        return fails


# ---------------------------------------------------------------- length ----

class LengthFilter(Filter):
    """Token and character bounds per side (tokens: ``record.tokens(side)``,
    whitespace split when the record has text only).  Scores
    ``len_tokens_src``, ``len_chars_src``, ``len_tokens_tgt``, ``len_chars_tgt``
    (target only for parallel records).  Reasons ``too_short``, ``too_long``."""

    name = "length"

    def __init__(self, *, min_tokens: int | None = 1, max_tokens: int | None = 250,
                 min_chars: int | None = 1, max_chars: int | None = 2000):
        _check_range("length", min_tokens, max_tokens)
        _check_range("length", min_chars, max_chars)
        self.min_tokens, self.max_tokens = min_tokens, max_tokens
        self.min_chars, self.max_chars = min_chars, max_chars
        hi_t = float(max_tokens or 250) * 1.2
        hi_c = float(max_chars or 2000) * 1.2
        self.score_ranges = {f"len_{u}_{s}": (0.0, hi) for s in SIDES
                             for u, hi in (("tokens", hi_t), ("chars", hi_c))}

    @property
    def thresholds(self) -> dict:
        out = {}
        for side in SIDES:
            for unit, lo, hi in (("tokens", self.min_tokens, self.max_tokens),
                                 ("chars", self.min_chars, self.max_chars)):
                # One (op, value) per score (the stage contract): the upper
                # bound, which is the one that bites; the lower when alone.
                if hi is not None:
                    out[f"len_{unit}_{side}"] = ("<=", hi)
                elif lo is not None:
                    out[f"len_{unit}_{side}"] = (">=", lo)
        return out

    def score(self, record: Record) -> dict[str, float]:
        out = {}
        for side in SIDES:
            text = record.text(side)
            if text is None:
                continue
            out[f"len_tokens_{side}"] = float(len(record.tokens(side) or ()))
            out[f"len_chars_{side}"] = float(len(text.strip()))
        return out

    def failures(self, scores):
        fails = []
        for side in SIDES:
            for unit, lo, hi in (("tokens", self.min_tokens, self.max_tokens),
                                 ("chars", self.min_chars, self.max_chars)):
                n = scores.get(f"len_{unit}_{side}")
                if n is None:
                    continue
                if lo is not None and n < lo:
                    fails.append(("too_short", f"{side} has {int(n)} {unit} < {lo}"))
                elif hi is not None and n > hi:
                    fails.append(("too_long", f"{side} has {int(n)} {unit} > {hi}"))
        return fails


class LengthRatioFilter(Filter):
    """Symmetric source/target length ratio: score ``length_ratio`` =
    max(a, b) / min(a, b) over tokens (or characters with ``unit: chars``,
    better for languages written without spaces).  Parallel records only;
    reason ``length_ratio``."""

    name = "length_ratio"
    score_ranges = {"length_ratio": (1.0, 6.0)}

    def __init__(self, *, max_ratio: float = 3.0, unit: str = "tokens"):
        if unit not in ("tokens", "chars"):
            raise FilterConfigError(f"filter 'length_ratio': unit must be tokens or chars, got {unit!r}")
        if float(max_ratio) < 1.0:
            raise FilterConfigError(f"filter 'length_ratio': max_ratio must be >= 1, got {max_ratio}")
        self.max_ratio, self.unit = float(max_ratio), unit
        self.score_ranges = {"length_ratio": (1.0, max(6.0, 2 * self.max_ratio))}

    @property
    def thresholds(self) -> dict:
        return {"length_ratio": ("<=", self.max_ratio)}

    def _len(self, record, side):
        if self.unit == "chars":
            return len((record.text(side) or "").strip())
        return len(record.tokens(side) or ())

    def score(self, record: Record) -> dict[str, float]:
        if not record.is_parallel:
            return {}
        a, b = self._len(record, "src"), self._len(record, "tgt")
        if min(a, b) == 0:
            return {}  # empty sides are the step's business (empty_text)
        return {"length_ratio": max(a, b) / min(a, b)}

    def failures(self, scores):
        r = scores.get("length_ratio")
        if r is not None and r > self.max_ratio:
            return [("length_ratio", f"{self.unit} ratio {_fmt(r)} > {_fmt(self.max_ratio)}")]
        return []


# ------------------------------------------------------------- alignment ----

class AlignmentCoverageFilter(Filter):
    """Share of words on both sides with at least one link in
    ``record.alignment``: score ``align_coverage`` in [0, 1].  Records without
    an alignment pass unscored, unless ``required`` (reason ``no_alignment``).
    Reason ``low_alignment_coverage``."""

    name = "alignment_coverage"
    score_ranges = {"align_coverage": (0.0, 1.0)}

    def __init__(self, *, min_coverage: float = 0.3, required: bool = False):
        self.min_coverage, self.required = float(min_coverage), bool(required)

    @property
    def thresholds(self) -> dict:
        return {"align_coverage": (">=", self.min_coverage)}

    def score(self, record: Record) -> dict[str, float]:
        if record.alignment is None or not record.is_parallel:
            return {}
        n_src = len(record.tokens("src") or ())
        n_tgt = len(record.tokens("tgt") or ())
        if n_src + n_tgt == 0:
            return {}
        src = {i for i, _ in record.alignment if i < n_src}
        tgt = {j for _, j in record.alignment if j < n_tgt}
        return {"align_coverage": (len(src) + len(tgt)) / (n_src + n_tgt)}

    def failures(self, scores):
        c = scores.get("align_coverage")
        if c is None:
            return [("no_alignment", "record has no word alignment")] if self.required else []
        if c < self.min_coverage:
            return [("low_alignment_coverage", f"coverage {_fmt(c)} < {_fmt(self.min_coverage)}")]
        return []


# ------------------------------------------------------------- roundtrip ----

class RoundTripFilter(Filter):
    """Thresholds the round-trip scores the back-translation stage stores in
    ``record.scores`` (``rt_bleu``, ``rt_chrf``; sacrebleu's 0-100 scale).
    A threshold of None switches that check off.  Records lacking the scores
    pass, unless ``required`` (reason ``no_roundtrip_score``)."""

    name = "roundtrip"
    score_ranges = {"rt_bleu": (0.0, 100.0), "rt_chrf": (0.0, 100.0)}

    def __init__(self, *, min_chrf: float | None = 30.0, min_bleu: float | None = None,
                 required: bool = False):
        self.min_chrf = None if min_chrf is None else float(min_chrf)
        self.min_bleu = None if min_bleu is None else float(min_bleu)
        self.required = bool(required)

    @property
    def thresholds(self) -> dict:
        out = {}
        if self.min_bleu is not None:
            out["rt_bleu"] = (">=", self.min_bleu)
        if self.min_chrf is not None:
            out["rt_chrf"] = (">=", self.min_chrf)
        return out

    def score(self, record: Record) -> dict[str, float]:
        return {k: record.scores[k] for k in ("rt_bleu", "rt_chrf") if k in record.scores}

    def failures(self, scores):
        fails = []
        checks = [("rt_bleu", self.min_bleu, "low_roundtrip_bleu"),
                  ("rt_chrf", self.min_chrf, "low_roundtrip_chrf")]
        for key, lo, reason in checks:
            if lo is None:
                continue
            v = scores.get(key)
            if v is None:
                if self.required:
                    fails.append(("no_roundtrip_score", f"record has no {key}"))
            elif v < lo:
                fails.append((reason, f"{key} {_fmt(v)} < {_fmt(lo)}"))
        return fails


# -------------------------------------------------------------- registry ----

FILTERS: dict[str, type[Filter]] = {
    cls.name: cls for cls in (LangIdFilter, LengthFilter, LengthRatioFilter,
                              AlignmentCoverageFilter, RoundTripFilter)
}

# What ``xlaug run filter`` applies when nothing is said.  Coverage and
# round-trip only act on records that carry an alignment / rt scores.
DEFAULT_CONFIG = {
    "langid": {}, "length": {}, "length_ratio": {},
    "alignment_coverage": {}, "roundtrip": {},
}


def build_filters(config: dict | None = None) -> list[Filter]:
    """Filters from ``{name: {option: value}}`` (None -> DEFAULT_CONFIG).

    A filter's value may be ``{}``/None/True (defaults) or False (left out).
    Order follows the mapping; the first failing filter names the reason.
    """
    if config is None:
        config = DEFAULT_CONFIG
    if not isinstance(config, dict):
        raise FilterConfigError(f"filters: expected a mapping of filter names to options, "
                                f"got {type(config).__name__}")
    out = []
    for name, opts in config.items():
        cls = FILTERS.get(name)
        if cls is None:
            raise FilterConfigError(f"unknown filter '{name}' (known: {', '.join(FILTERS)})")
        if opts is False:
            continue
        if opts is None or opts is True:
            opts = {}
        if not isinstance(opts, dict):
            raise FilterConfigError(f"filter '{name}': expected a mapping of options, got {opts!r}")
        known = _option_names(cls)
        for key in opts:
            if key not in known:
                raise FilterConfigError(f"filter '{name}': unknown option '{key}' "
                                        f"(known: {', '.join(known)})")
        try:
            out.append(cls(**opts))
        except (TypeError, ValueError) as e:
            if isinstance(e, FilterConfigError):
                raise
            raise FilterConfigError(f"filter '{name}': bad option value: {e}") from None
    return out
