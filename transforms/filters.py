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
import re

from xlaug.transforms.align import coverage
from xlaug.transforms.langcodes import LANGID_LANGUAGES, to_iso1
from xlaug.transforms.langid_model import langid_model
from xlaug.transforms.record import Record
from xlaug.transforms.segment import SEGMENTERS, segment_words

SIDES = ("src", "tgt")
RATIO_UNITS = ("words", "chars", "tokens")
_WORDLIKE = re.compile(r"\w")


class FilterConfigError(ValueError):
    """An unknown filter, an unknown option or a bad option value."""


class Filter:
    """Base class.  ``score`` returns {score_name: value}; ``accept`` turns
    scores into (ok, reason).  ``score_ranges`` gives each score's histogram
    range; ``thresholds`` each score's (op, value) decision for the report."""

    name = "filter"
    score_ranges: dict = {}
    score_units: dict = {}  # score -> the unit it counts in (the report says it)

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


def _check_segmenter(name: str, segmenter: str) -> None:
    if segmenter not in SEGMENTERS:
        raise FilterConfigError(f"filter '{name}': segmenter must be one of {', '.join(SEGMENTERS)}, "
                                f"got {segmenter!r}")


def _fmt(x: float) -> str:
    return f"{x:.3g}"


# ---------------------------------------------------------------- langid ----

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

def _words(record: Record, side: str, segmenter: str) -> int:
    """Words of a side (punctuation marks not counted): its tokens when the
    record is tokenised, else its text segmented (zh/ja/th/lo/km/my runs by
    dictionary, the rest on spaces and punctuation), so one unit means about
    the same in every script."""
    toks = getattr(record, f"{side}_tokens")
    if toks is None:
        toks = segment_words(record.text(side) or "", segmenter)
    return sum(1 for t in toks if _WORDLIKE.search(t))


def _unit_text(unit: str, segmenter: str) -> str:
    if unit == "words":
        return ("words (tokens of tokenised records, else segmented text: "
                f"segmenter {segmenter}; punctuation not counted)")
    if unit == "tokens":
        return "tokens (whitespace split of text)"
    return "characters (stripped text)"


class LengthFilter(Filter):
    """Word and character bounds per side (words: ``record``'s tokens, or its
    text segmented into words by ``segmenter``).  Scores ``len_tokens_src``,
    ``len_chars_src``, ``len_tokens_tgt``, ``len_chars_tgt`` (target only for
    parallel records; ``len_tokens`` counts words).  Reasons ``too_short``,
    ``too_long``."""

    name = "length"

    def __init__(self, *, min_tokens: int | None = 1, max_tokens: int | None = 250,
                 min_chars: int | None = 1, max_chars: int | None = 2000, segmenter: str = "auto"):
        _check_range("length", min_tokens, max_tokens)
        _check_range("length", min_chars, max_chars)
        _check_segmenter("length", segmenter)
        self.min_tokens, self.max_tokens = min_tokens, max_tokens
        self.min_chars, self.max_chars = min_chars, max_chars
        self.segmenter = segmenter
        hi_t = float(max_tokens or 250) * 1.2
        hi_c = float(max_chars or 2000) * 1.2
        self.score_ranges = {f"len_{u}_{s}": (0.0, hi) for s in SIDES
                             for u, hi in (("tokens", hi_t), ("chars", hi_c))}
        self.score_units = {f"len_{u}_{s}": _unit_text(unit, segmenter) for s in SIDES
                            for u, unit in (("tokens", "words"), ("chars", "chars"))}

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
            out[f"len_tokens_{side}"] = float(_words(record, side, self.segmenter))
            out[f"len_chars_{side}"] = float(len(text.strip()))
        return out

    def failures(self, scores):
        fails = []
        for side in SIDES:
            for unit, lo, hi in (("words", self.min_tokens, self.max_tokens),
                                 ("chars", self.min_chars, self.max_chars)):
                n = scores.get(f"len_{unit if unit == 'chars' else 'tokens'}_{side}")
                if n is None:
                    continue
                if lo is not None and n < lo:
                    fails.append(("too_short", f"{side} has {int(n)} {unit} < {lo}"))
                elif hi is not None and n > hi:
                    fails.append(("too_long", f"{side} has {int(n)} {unit} > {hi}"))
        return fails


class LengthRatioFilter(Filter):
    """Symmetric source/target length ratio: score ``length_ratio`` =
    max(a, b) / min(a, b) in ``unit``: ``words`` (default: tokens of tokenised
    records, else text segmented into words, so Chinese or Thai text is
    counted in words like English), ``chars``, or ``tokens`` (whitespace
    split: a Chinese clause is one token).  Parallel records only; reason
    ``length_ratio``."""

    name = "length_ratio"
    score_ranges = {"length_ratio": (1.0, 6.0)}

    def __init__(self, *, max_ratio: float = 3.0, unit: str = "words", segmenter: str = "auto"):
        if unit not in RATIO_UNITS:
            raise FilterConfigError(f"filter 'length_ratio': unit must be one of {', '.join(RATIO_UNITS)}, "
                                    f"got {unit!r}")
        if float(max_ratio) < 1.0:
            raise FilterConfigError(f"filter 'length_ratio': max_ratio must be >= 1, got {max_ratio}")
        _check_segmenter("length_ratio", segmenter)
        self.max_ratio, self.unit, self.segmenter = float(max_ratio), unit, segmenter
        self.score_ranges = {"length_ratio": (1.0, max(6.0, 2 * self.max_ratio))}
        self.score_units = {"length_ratio": _unit_text(unit, segmenter)}

    @property
    def thresholds(self) -> dict:
        return {"length_ratio": ("<=", self.max_ratio)}

    def _len(self, record, side):
        if self.unit == "chars":
            return len((record.text(side) or "").strip())
        if self.unit == "tokens":
            return len(record.tokens(side) or ())
        return _words(record, side, self.segmenter)

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
        return {"align_coverage": coverage(record.alignment, n_src, n_tgt)}

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
