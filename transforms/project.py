"""Annotation projection: carry token labels across a word alignment.

Pure Python, no model: BIO spans (NER) are projected as spans, per-token tags
(POS) token by token.  ``ProjectStep`` wraps both for the pipeline.  The policy
is written out in docs/projection.md; in short, for each source span:

1. Target words linked to any word of the span are collected.
2. They are cut into clusters wherever more than ``gap`` target words lie
   between two of them (a discontinuous projection); gaps of at most ``gap``
   words are filled.  The cluster carrying the most link weight wins
   (one-to-many links to far-away words are treated as noise).
3. An edge word whose strongest link goes to a source word outside the span
   is trimmed (``edge_outside``: "the", "of" absorbed by a name that another
   language inflects), then punctuation at the edges (``trim``).  A name that lands on lowercase words only is a derived adjective
   ("Belgium" -> "belgischen") and takes ``derived_type`` (CoNLL: MISC).
4. Confidence = share of the span's source words linked into the range
   x mean similarity of those links (1.0 per link when no scores).
5. Spans are placed by decreasing confidence; a span overlapping one already
   placed loses (status ``overlap``).

A span that cannot be placed is dropped or, by policy, makes the caller reject
the whole record, so no record is ever emitted half-labelled without a trace.
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Iterable, Sequence

from xlaug.transforms import bio
from xlaug.transforms.bio import Span
from xlaug.transforms.tokenize import simple_tokenize  # noqa: F401  (re-exported)
from xlaug.transforms.record import Record, Rejected
from xlaug.transforms.stage import Step


# -- span projection ------------------------------------------------------

ON_MISSING = ("reject", "drop")


@dataclass(frozen=True)
class ProjectionPolicy:
    """How spans cross the alignment; see the module docstring.

    gap:            fill at most this many target words between linked ones;
                    a wider hole splits the projection, the heavier part wins.
    trim:           drop punctuation at the edges of the range.
    derived_type:   type for a capitalised source name projected onto
                    lowercase words only (derived adjective); None keeps it.
    on_missing:     'reject' the record or 'drop' the span when a span has no
                    linked target word (or loses an overlap, or is below
                    min_confidence).
    min_confidence: spans below this are treated like missing ones.
    edge_ratio:     span boundaries weighted by link confidence: an edge word of
                    the range whose link weight from the span is below this
                    share of the range's heaviest word is trimmed (0 = off).
    edge_outside:   trim an edge word of the range whose strongest link goes to a
                    source word outside the span (an article or preposition
                    that belongs to the words around the name).
    """

    gap: int = 1
    trim: bool = True
    derived_type: str | None = "MISC"
    on_missing: str = "drop"
    min_confidence: float = 0.0
    edge_ratio: float = 0.0
    edge_outside: bool = True

    def __post_init__(self):
        if self.gap < 0:
            raise ValueError("gap must be >= 0")
        if self.on_missing not in ON_MISSING:
            raise ValueError(f"on_missing must be one of {ON_MISSING}")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError("min_confidence must be in [0, 1]")
        if not 0.0 <= self.edge_ratio <= 1.0:
            raise ValueError("edge_ratio must be in [0, 1]")


@dataclass(frozen=True)
class SpanResult:
    """What became of one source span.

    status: 'projected', 'missing' (no linked target word), 'overlap' (lost
    to a more confident span), 'low_confidence'.
    """

    src: Span
    tgt: tuple[int, int] | None
    confidence: float
    status: str


_PUNCT = re.compile(r"^[^\w]+$")


def _clusters(positions: list[int], gap: int) -> list[list[int]]:
    out: list[list[int]] = []
    for j in sorted(set(positions)):
        if out and j - out[-1][-1] - 1 <= gap:
            out[-1].append(j)
        else:
            out.append([j])
    return out


def _candidate(span: Span, links_of: dict, n_tgt: int, tgt_tokens, src_tokens,
               policy: ProjectionPolicy, best_src: dict | None = None) -> tuple[tuple[int, int] | None, float]:
    start, end, _ = span
    weight: dict[int, float] = defaultdict(float)  # target word -> link weight from the span
    for i in range(start, end):
        for j, s in links_of.get(i, ()):
            if 0 <= j < n_tgt:
                weight[j] += s
    if not weight:
        return None, 0.0
    clusters = _clusters(list(weight), policy.gap)
    best = max(clusters, key=lambda c: (sum(weight[j] for j in c), -c[0]))
    lo, hi = best[0], best[-1] + 1
    if policy.edge_ratio > 0:
        floor = policy.edge_ratio * max(weight[j] for j in best)
        while hi - lo > 1 and weight.get(lo, 0.0) < floor:
            lo += 1
        while hi - lo > 1 and weight.get(hi - 1, 0.0) < floor:
            hi -= 1
    if policy.edge_outside and best_src:
        outside = lambda j: j in best_src and not start <= best_src[j] < end  # noqa: E731
        while hi - lo > 1 and outside(lo):
            lo += 1
        while hi - lo > 1 and outside(hi - 1):
            hi -= 1
    if tgt_tokens is not None and policy.trim:
        lo, hi = _trim(lo, hi, tgt_tokens)
    # Confidence: which source words reached the chosen range, and how well.
    reached, sims = set(), []
    for i in range(start, end):
        for j, s in links_of.get(i, ()):
            if lo <= j < hi:
                reached.add(i)
                sims.append(s)
    if not sims:  # trimming removed every linked word
        return None, 0.0
    conf = len(reached) / (end - start) * (sum(sims) / len(sims))
    return (lo, hi), conf


def _trim(lo: int, hi: int, toks) -> tuple[int, int]:
    while hi - lo > 1 and _PUNCT.match(toks[lo]):
        lo += 1
    while hi - lo > 1 and _PUNCT.match(toks[hi - 1]):
        hi -= 1
    return lo, hi


def project_spans(src_spans: Sequence[Span], links: Iterable[tuple[int, int]], n_tgt: int,
                  link_scores: Sequence[float] | None = None, policy: ProjectionPolicy = ProjectionPolicy(),
                  tgt_tokens: Sequence[str] | None = None,
                  src_tokens: Sequence[str] | None = None) -> tuple[list[str], list[SpanResult]]:
    """Project source spans onto ``n_tgt`` target words through ``links`` (i, j).

    Returns the target BIO labels and one ``SpanResult`` per source span, in
    source order.  ``tgt_tokens`` and ``src_tokens`` enable the rules that
    look at words (trim, derived_type); without them only gap filling,
    cluster choice and overlap resolution apply.
    """
    links = list(links)
    scores = list(link_scores) if link_scores is not None else [1.0] * len(links)
    if len(scores) != len(links):
        raise ValueError("link_scores and links differ in length")
    links_of: dict[int, list[tuple[int, float]]] = defaultdict(list)
    best: dict[int, tuple[float, int]] = {}  # target word -> (strongest link, its source word)
    for (i, j), s in zip(links, scores):
        links_of[i].append((j, float(s)))
        if j not in best or (float(s), -i) > (best[j][0], -best[j][1]):
            best[j] = (float(s), i)
    best_src = {j: i for j, (_, i) in best.items()}

    cands = []
    for k, span in enumerate(src_spans):
        rng, conf = _candidate(span, links_of, n_tgt, tgt_tokens, src_tokens, policy, best_src)
        cands.append((k, span, rng, conf))

    results: list[SpanResult | None] = [None] * len(cands)
    taken = [False] * n_tgt
    # Most confident first; ties go to the earlier source span, for determinism.
    for k, span, rng, conf in sorted(cands, key=lambda c: (-c[3], c[0])):
        if rng is None:
            results[k] = SpanResult(span, None, 0.0, "missing")
        elif conf < policy.min_confidence:
            results[k] = SpanResult(span, None, conf, "low_confidence")
        elif any(taken[rng[0]:rng[1]]):
            results[k] = SpanResult(span, None, conf, "overlap")
        else:
            for j in range(*rng):
                taken[j] = True
            results[k] = SpanResult(span, rng, conf, "projected")
    placed = [(r.tgt[0], r.tgt[1], _type(r, policy, tgt_tokens, src_tokens))
              for r in results if r.status == "projected"]
    return bio.from_spans(placed, n_tgt), results


def _type(r: SpanResult, policy: ProjectionPolicy, tgt_tokens, src_tokens) -> str:
    typ = r.src[2]
    if policy.derived_type is None or tgt_tokens is None or src_tokens is None:
        return typ
    words = [w for w in tgt_tokens[r.tgt[0]:r.tgt[1]] if w[:1].isalpha()]
    if src_tokens[r.src[0]][:1].isupper() and words and all(w[:1].islower() for w in words):
        return policy.derived_type
    return typ


# -- per-token tags (POS) -------------------------------------------------

TAG_RULES = ("majority", "first")


def project_tags(src_tags: Sequence[str], links: Iterable[tuple[int, int]], n_tgt: int,
                 link_scores: Sequence[float] | None = None, *, rule: str = "majority",
                 fill: str = "X") -> tuple[list[str], int]:
    """Per-token tags through links; returns (target tags, unaligned target count).

    majority: the most frequent tag among the source words linked to a target
              word; a tie goes to the tag with the strongest link, then the
              leftmost source word.
    first:    the tag of the strongest link (leftmost source word on a tie).
    Target words with no link get ``fill``.
    """
    if rule not in TAG_RULES:
        raise ValueError(f"rule must be one of {TAG_RULES}")
    links = list(links)
    scores = list(link_scores) if link_scores is not None else [1.0] * len(links)
    by_tgt: dict[int, list[tuple[float, int]]] = defaultdict(list)
    for (i, j), s in zip(links, scores):
        if 0 <= j < n_tgt and 0 <= i < len(src_tags):
            by_tgt[j].append((float(s), i))
    out, unaligned = [], 0
    for j in range(n_tgt):
        cands = by_tgt.get(j)
        if not cands:
            out.append(fill)
            unaligned += 1
            continue
        best_link = {}
        for s, i in cands:
            tag = src_tags[i]
            best_link[tag] = max(best_link.get(tag, (-1.0, 0)), (s, -i))
        if rule == "majority":
            counts = Counter(src_tags[i] for _, i in cands)
            tag = max(counts, key=lambda t: (counts[t], best_link[t]))
        else:
            tag = max(best_link, key=lambda t: best_link[t])
        out.append(tag)
    return out, unaligned


# -- the pipeline step ------------------------------------------------------

SIDES = ("src", "tgt")
TAG_SCHEMES = ("bio", "pos")


class ProjectStep(Step):
    """Project ``{from_side}_labels`` onto the other side through record.alignment.

    from_side='src' (translate-train): labelled human text -> its translation.
    from_side='tgt' (translate-test): labels of the annotated translation back
    onto the original text.
    """

    name = "project"
    score_ranges = {"proj_confidence": (0.0, 1.0), "proj_spans_src": (0.0, 20.0),
                    "proj_spans_tgt": (0.0, 20.0), "proj_spans_dropped": (0.0, 10.0)}

    def __init__(self, policy: ProjectionPolicy = ProjectionPolicy(), *, from_side: str = "src",
                 tag_scheme: str = "bio", tag_rule: str = "majority", fill_tag: str = "X",
                 strict_bio: bool = False, segmenter: str = "auto"):
        if from_side not in SIDES:
            raise ValueError(f"from_side must be one of {SIDES}")
        if tag_scheme not in TAG_SCHEMES:
            raise ValueError(f"tag_scheme must be one of {TAG_SCHEMES}")
        self.policy = policy
        self.from_side = from_side
        self.to_side = "tgt" if from_side == "src" else "src"
        self.tag_scheme = tag_scheme
        self.tag_rule = tag_rule
        self.segmenter = segmenter  # words of an untokenised target (zh/ja/th/...)
        self.fill_tag = fill_tag
        self.strict_bio = strict_bio
        self.thresholds = ({"proj_confidence": (">=", policy.min_confidence)}
                           if policy.min_confidence > 0 else {})

    def process(self, record: Record):
        labels = getattr(record, f"{self.from_side}_labels")
        if labels is None:
            yield Rejected.of(record, self.name, "no_labels",
                              f"{self.from_side}_labels is empty: nothing to project")
            return
        if record.alignment is None:
            yield Rejected.of(record, self.name, "no_alignment", "record has no word alignment")
            return
        to_tokens = record.tokens(self.to_side)
        if getattr(record, f"{self.to_side}_tokens") is None and to_tokens is not None:
            to_tokens = simple_tokenize(record.text(self.to_side), self.segmenter)
        if not to_tokens:
            yield Rejected.of(record, self.name, "empty_text", f"{self.to_side} side has no tokens")
            return
        links = record.alignment if self.from_side == "src" else tuple((j, i) for i, j in record.alignment)
        n_from, n_to = len(labels), len(to_tokens)
        bad = [(i, j) for i, j in links if i >= n_from or j >= n_to]
        if bad:
            yield Rejected.of(record, self.name, "alignment_out_of_range",
                              f"link {bad[0]} outside {n_from}x{n_to} tokens")
            return
        if self.tag_scheme == "pos":
            tags, unaligned = project_tags(labels, links, n_to, record.link_scores,
                                           rule=self.tag_rule, fill=self.fill_tag)
            out = record.replace(**{f"{self.to_side}_tokens": tuple(to_tokens),
                                    f"{self.to_side}_labels": tuple(tags)})
            yield out.with_scores(proj_unaligned=unaligned / n_to).with_origin(
                self.name, None, tag_scheme="pos", rule=self.tag_rule, from_side=self.from_side)
            return
        try:
            spans = bio.spans(labels, strict=self.strict_bio)
        except bio.BioError as e:
            yield Rejected.of(record, self.name, "invalid_bio", f"{self.from_side}_labels: {e}")
            return
        tgt_labels, results = project_spans(spans, links, n_to, record.link_scores, self.policy, to_tokens,
                                            getattr(record, f"{self.from_side}_tokens"))
        lost = [r for r in results if r.status != "projected"]
        if lost and self.policy.on_missing == "reject":
            r = lost[0]
            reason = {"missing": "unprojectable_entity", "overlap": "overlapping_entities",
                      "low_confidence": "low_confidence"}[r.status]
            s, e, typ = r.src
            words = " ".join(getattr(record, f"{self.from_side}_tokens", None) or ["?"] * e)
            yield Rejected.of(record, self.name, reason,
                              f"{typ} span {s}:{e} ({' '.join(words.split()[s:e])!r}) not projected: {r.status}")
            return
        placed = [r.confidence for r in results if r.status == "projected"]
        out = record.replace(**{f"{self.to_side}_tokens": tuple(to_tokens),
                                f"{self.to_side}_labels": tuple(tgt_labels)})
        yield out.with_scores(
            proj_spans_src=len(results), proj_spans_tgt=len(placed), proj_spans_dropped=len(lost),
            proj_confidence=min(placed) if placed else (1.0 if not results else 0.0),
        ).with_origin(self.name, None, gap=self.policy.gap, derived_type=self.policy.derived_type,
                      trim=self.policy.trim, on_missing=self.policy.on_missing,
                      min_confidence=self.policy.min_confidence, edge_outside=self.policy.edge_outside,
                      edge_ratio=self.policy.edge_ratio, from_side=self.from_side)
