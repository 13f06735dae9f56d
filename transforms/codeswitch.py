"""ALM-style code-switching: swap aligned phrases between the two sides of a pair.

Terms used here:
- matrix language: the sentence we start from (``matrix="src"`` -> the
  record's src side, ``"tgt"`` -> its tgt side).
- embedded language: the other side; its phrases are inserted.
- alpha: share of *output tokens* that come from the embedded language
  (realised alpha is stored as ``scores["alpha"]``).

A phrase pair is consistent with the alignment (phrase-based MT): no link
leaves the box, at least one link is inside.  A sample replaces
non-overlapping matrix phrases by their embedded phrases, chosen in a seeded
random order, each swap kept only when it brings the realised alpha closer to
the asked one, up to ``max_swaps``; when no single swap does, the closest one
is taken, so every output switches.

Labels: a phrase may not cut an entity on either side.  A phrase containing
an entity is swapped only when both sides carry labels and the entity types
inside agree; the swapped tokens then bring the embedded side's labels.
Without embedded labels, only entity-free phrases are swapped and their
tokens get ``O``.  BIO is re-normalised after the swap.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable, NamedTuple, Sequence

from xlaug.transforms import bio
from xlaug.transforms.mixing import cmi, switch_points
from xlaug.transforms.record import Record, Rejected
from xlaug.transforms.seeding import seeded_rng
from xlaug.transforms.segment import join_tokens
from xlaug.transforms.stage import Step


class PhrasePair(NamedTuple):
    """Half-open spans: src[s0:s1] <-> tgt[t0:t1]."""
    s0: int
    s1: int
    t0: int
    t1: int


def extract_phrase_pairs(n_src: int, n_tgt: int, links: Iterable[tuple[int, int]],
                         max_len: int = 3, extend_unaligned: bool = False) -> list[PhrasePair]:
    """All phrase pairs consistent with ``links`` whose sides are at most
    ``max_len`` tokens.  Tight pairs only (boundary words aligned) unless
    ``extend_unaligned``, which also grows each side over unaligned
    neighbours, as in Koehn's extraction."""
    by_src: list[list[int]] = [[] for _ in range(n_src)]
    by_tgt: list[list[int]] = [[] for _ in range(n_tgt)]
    for i, j in set(links):
        by_src[i].append(j)
        by_tgt[j].append(i)
    pairs: set[PhrasePair] = set()
    for s0 in range(n_src):
        if not by_src[s0]:
            continue
        t_lo, t_hi = n_tgt, -1
        for s1 in range(s0, min(n_src, s0 + max_len)):
            if not by_src[s1]:
                continue  # tight: the span must end on an aligned word
            for j in by_src[s1]:
                t_lo, t_hi = min(t_lo, j), max(t_hi, j)
            if t_hi - t_lo + 1 > max_len:
                break  # growing the src span never shrinks the tgt span
            if all(s0 <= i <= s1 for j in range(t_lo, t_hi + 1) for i in by_tgt[j]):
                pairs.add(PhrasePair(s0, s1 + 1, t_lo, t_hi + 1))
    if extend_unaligned:
        for p in list(pairs):
            for s0 in _grow_down(p.s0, by_src, p.s1, max_len):
                for s1 in _grow_up(p.s1, by_src, n_src, s0, max_len):
                    for t0 in _grow_down(p.t0, by_tgt, p.t1, max_len):
                        for t1 in _grow_up(p.t1, by_tgt, n_tgt, t0, max_len):
                            pairs.add(PhrasePair(s0, s1, t0, t1))
    return sorted(pairs)


def _grow_down(start: int, linked, end: int, max_len: int) -> list[int]:
    out = [start]
    while out[-1] > 0 and not linked[out[-1] - 1] and end - (out[-1] - 1) <= max_len:
        out.append(out[-1] - 1)
    return out


def _grow_up(end: int, linked, n: int, start: int, max_len: int) -> list[int]:
    out = [end]
    while out[-1] < n and not linked[out[-1]] and (out[-1] + 1) - start <= max_len:
        out.append(out[-1] + 1)
    return out


class Switched(NamedTuple):
    """One code-switched sentence, before it becomes a Record."""
    tokens: tuple[str, ...]
    from_embedded: tuple[bool, ...]   # per output token: came from the embedded side
    origin_index: tuple[int, ...]     # per output token: its index on the side it came from
    labels: tuple[str, ...] | None
    swaps: tuple[tuple[int, int, int, int], ...]  # (m0, m1, e0, e1) chosen


def _cuts(span: tuple[int, int], ents: list[tuple[int, int, str]]) -> bool:
    a, b = span
    return any(s < b and e > a and not (a <= s and e <= b) for s, e, _ in ents)


def _types_inside(span: tuple[int, int], ents: list[tuple[int, int, str]]) -> Counter:
    a, b = span
    return Counter(t for s, e, t in ents if a <= s and e <= b)


def _entities(labels: Sequence[str] | None) -> list[tuple[int, int, str]]:
    """BIO entity spans; none for missing or non-BIO (e.g. POS) labels."""
    return bio.spans(labels) if labels is not None and bio.is_bio(labels) else []


def eligible_swaps(pairs: Sequence[PhrasePair], matrix: str,
                   m_labels: Sequence[str] | None, e_labels: Sequence[str] | None
                   ) -> list[tuple[int, int, int, int]]:
    """Phrase pairs in matrix orientation (m0, m1, e0, e1) that respect the
    entity policy (see the module docstring)."""
    m_ents = _entities(m_labels)
    e_ents = _entities(e_labels)
    out = []
    for p in pairs:
        m, e = ((p.s0, p.s1), (p.t0, p.t1)) if matrix == "src" else ((p.t0, p.t1), (p.s0, p.s1))
        if _cuts(m, m_ents) or _cuts(e, e_ents):
            continue
        m_types, e_types = _types_inside(m, m_ents), _types_inside(e, e_ents)
        if (m_types or e_types) and (m_labels is None or e_labels is None or m_types != e_types):
            continue
        out.append((m[0], m[1], e[0], e[1]))
    return out


def sample_swaps(candidates: Sequence[tuple[int, int, int, int]], n_matrix: int,
                 alpha: float, max_swaps: int, rng) -> list[tuple[int, int, int, int]]:
    """Seeded greedy choice of non-overlapping swaps aiming at ``alpha``."""
    order = list(candidates)
    rng.shuffle(order)
    used_m, used_e = set(), set()
    chosen: list[tuple[int, int, int, int]] = []
    n_out, n_emb = n_matrix, 0
    for m0, m1, e0, e1 in order:
        if len(chosen) >= max_swaps:
            break
        if any(k in used_m for k in range(m0, m1)) or any(k in used_e for k in range(e0, e1)):
            continue
        new_out = n_out - (m1 - m0) + (e1 - e0)
        new_emb = n_emb + (e1 - e0)
        if abs(new_emb / new_out - alpha) >= abs(n_emb / n_out - alpha):
            continue
        chosen.append((m0, m1, e0, e1))
        used_m.update(range(m0, m1))
        used_e.update(range(e0, e1))
        n_out, n_emb = new_out, new_emb
    if not chosen and order:
        # Every single swap overshoots twice over: take the one closest to alpha,
        # so each output still switches.
        def miss(c):
            return abs((c[3] - c[2]) / (n_matrix - (c[1] - c[0]) + (c[3] - c[2])) - alpha)
        chosen = [min(order, key=miss)]
    return sorted(chosen)


def apply_swaps(m_tokens: Sequence[str], e_tokens: Sequence[str],
                swaps: Sequence[tuple[int, int, int, int]],
                m_labels: Sequence[str] | None, e_labels: Sequence[str] | None,
                fill_label: str | None = "O") -> Switched:
    """Build the output sentence; labels travel with their tokens."""
    starts = {m0: (m0, m1, e0, e1) for m0, m1, e0, e1 in swaps}
    toks, emb, idx, labels = [], [], [], []
    i = 0
    while i < len(m_tokens):
        if i in starts:
            m0, m1, e0, e1 = starts[i]
            for j in range(e0, e1):
                toks.append(e_tokens[j]); emb.append(True); idx.append(j)
                labels.append(e_labels[j] if e_labels is not None else fill_label)
            i = m1
        else:
            toks.append(m_tokens[i]); emb.append(False); idx.append(i)
            labels.append(m_labels[i] if m_labels is not None else None)
            i += 1
    out_labels = None
    if m_labels is not None and all(l is not None for l in labels):
        out_labels = bio.repair(labels)[0] if bio.is_bio(m_labels) else tuple(labels)
    return Switched(tuple(toks), tuple(emb), tuple(idx), out_labels, tuple(swaps))


class CodeSwitchStep(Step):
    """ALM code-switching of aligned pairs; ``samples`` outputs per pair,
    ids ``{id}-cs{k}``.  Pairs that allow no swap go out as Rejected."""

    name = "codeswitch"
    score_ranges = {"cmi": (0.0, 100.0), "switch_points": (0.0, 20.0), "alpha": (0.0, 1.0)}

    def __init__(self, alpha: float = 0.3, max_phrase_len: int = 3, max_swaps: int = 8,
                 matrix: str = "src", samples: int = 1, seed: int = 0,
                 extend_unaligned: bool = False):
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha must be between 0 and 1 (exclusive), got {alpha}")
        if matrix not in ("src", "tgt"):
            raise ValueError(f"matrix must be 'src' or 'tgt', got {matrix!r}")
        for name, value in (("max_phrase_len", max_phrase_len), ("max_swaps", max_swaps),
                            ("samples", samples)):
            if int(value) < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        self.alpha = float(alpha)
        self.max_phrase_len = int(max_phrase_len)
        self.max_swaps = int(max_swaps)
        self.matrix = matrix
        self.samples = int(samples)
        self.seed = int(seed)
        self.extend_unaligned = bool(extend_unaligned)

    def params(self) -> dict:
        return {"alpha": self.alpha, "max_phrase_len": self.max_phrase_len,
                "max_swaps": self.max_swaps, "matrix": self.matrix, "samples": self.samples,
                "seed": self.seed, "extend_unaligned": self.extend_unaligned}

    def process(self, record: Record):
        src, tgt = record.tokens("src"), record.tokens("tgt")
        if not src or not tgt:
            yield Rejected.of(record, self.name, "not_parallel",
                              "code-switching needs tokens on both sides")
            return
        links = record.alignment
        if not links:
            yield Rejected.of(record, self.name, "no_alignment",
                              "the pair has no word links (run the aligner first: --align-model)")
            return
        bad = [(i, j) for i, j in links if i >= len(src) or j >= len(tgt)]
        if bad:
            yield Rejected.of(record, self.name, "bad_alignment",
                              f"link {bad[0][0]}-{bad[0][1]} outside {len(src)}x{len(tgt)} tokens")
            return
        s_lab, t_lab = record.src_labels, record.tgt_labels
        for side, lab, toks in (("src", s_lab, src), ("tgt", t_lab, tgt)):
            if lab is not None and len(lab) != len(toks):
                yield Rejected.of(record, self.name, "label_mismatch",
                                  f"{side}_labels has {len(lab)} items for {len(toks)} tokens")
                return
        if self.matrix == "src":
            m_tok, e_tok, m_lab, e_lab = src, tgt, s_lab, t_lab
            m_lang, e_lang = record.src_lang or "src", record.tgt_lang or "tgt"
        else:
            m_tok, e_tok, m_lab, e_lab = tgt, src, t_lab, s_lab
            m_lang, e_lang = record.tgt_lang or "tgt", record.src_lang or "src"
        fill = "O"
        if m_lab is not None and e_lab is None and not bio.is_bio(m_lab):
            yield Rejected.of(record, self.name, "missing_labels",
                              "matrix side has non-BIO labels and the embedded side has none")
            return
        pairs = extract_phrase_pairs(len(src), len(tgt), links, self.max_phrase_len,
                                     self.extend_unaligned)
        candidates = eligible_swaps(pairs, self.matrix, m_lab, e_lab)
        if not candidates:
            yield Rejected.of(record, self.name, "no_phrase_pairs",
                              f"no consistent phrase pair of at most {self.max_phrase_len} tokens "
                              "that keeps entities whole")
            return
        seen = {tuple(m_tok)}  # a 'switch' identical to the matrix sentence is no switch
        outputs: list[Switched] = []
        attempts = 4 * self.samples + 16
        for attempt in range(attempts):
            if len(outputs) >= self.samples:
                break
            rng = seeded_rng(self.seed, "codeswitch", record.id, attempt)
            swaps = sample_swaps(candidates, len(m_tok), self.alpha, self.max_swaps, rng)
            sw = apply_swaps(m_tok, e_tok, swaps, m_lab, e_lab, fill)
            if sw.tokens in seen:
                continue
            seen.add(sw.tokens)
            outputs.append(sw)
        if not outputs:
            yield Rejected.of(record, self.name, "no_switch",
                              "every swap reproduces the matrix sentence (identical phrases)")
            return
        for k, sw in enumerate(outputs):
            yield self._to_record(record, k, len(outputs), sw, m_lang, e_lang, links)

    def _to_record(self, record: Record, k: int, siblings: int, sw: Switched, m_lang: str,
                   e_lang: str, links) -> Record:
        langs = tuple(e_lang if e else m_lang for e in sw.from_embedded)
        # Links from the untouched src side to the new sentence: a token that
        # came from src links to itself, one from tgt inherits its old links.
        src_of_tgt: dict[int, list[int]] = {}
        for i, j in links:
            src_of_tgt.setdefault(j, []).append(i)
        new_links = []
        for pos, (emb, at) in enumerate(zip(sw.from_embedded, sw.origin_index)):
            from_src = emb != (self.matrix == "src")
            new_links.extend([(at, pos)] if from_src else [(i, pos) for i in src_of_tgt.get(at, [])])
        n_emb = sum(sw.from_embedded)
        out = record.replace(
            id=f"{record.id}-cs{k}", tgt_lang=f"{m_lang}-{e_lang}",
            tgt_tokens=sw.tokens, tgt_text=join_tokens(sw.tokens), tgt_labels=sw.labels,
            token_langs=langs, alignment=tuple(sorted(new_links)), link_scores=None,
            src_tokens=record.tokens("src"))
        out = out.with_scores(cmi=cmi(sw.tokens, langs), switch_points=switch_points(sw.tokens, langs),
                              alpha=n_emb / len(sw.tokens))
        # Marked as made from its parent: the identity check counts children by this.
        return out.with_origin(self.name, None, parent=record.id, siblings=siblings, child=k,
                               swaps=len(sw.swaps), **self.params())
