"""Choosing a projection policy without gold target labels (pure Python).

A policy is the alignment (method, layer) plus the span rules.  Two
gold-free criteria, both computed from what a projection run has anyway
(labelled source sentences and their translations):

- ``roundtrip``: project the source spans onto the target, then the
  projected target spans back onto the source through the same links;
  span F1 of the round trip against the source labels.  A policy that puts
  spans in the wrong place, or stretches them, does not come back intact.
- ``consensus``: span F1 of a policy's target labels against each other
  candidate's, averaged (the candidate the others agree with most).
"""
from __future__ import annotations

from typing import Sequence

from xlaug.transforms import bio
from xlaug.transforms.metrics import span_prf
from xlaug.transforms.project import ProjectionPolicy, project_spans

CRITERIA = ("roundtrip", "consensus")


def _reverse(links, scores):
    order = sorted(range(len(links)), key=lambda k: (links[k][1], links[k][0]))
    return [(links[k][1], links[k][0]) for k in order], [scores[k] for k in order]


def project_all(items, alignments, policy: ProjectionPolicy) -> list[list[str]]:
    """Target labels of each (src_tokens, src_labels, tgt_tokens) item."""
    out = []
    for (stoks, stags, ttoks), a in zip(items, alignments):
        if a is None or a.error:
            out.append(["O"] * len(ttoks))
            continue
        labels, _ = project_spans(bio.spans(stags), a.links, len(ttoks), a.scores or None, policy, ttoks, stoks)
        out.append(labels)
    return out


def roundtrip_f1(items, alignments, policy: ProjectionPolicy, projected=None) -> float:
    """Span F1 of source -> target -> source against the source labels."""
    projected = projected if projected is not None else project_all(items, alignments, policy)
    back = []
    for (stoks, stags, ttoks), a, tlabels in zip(items, alignments, projected):
        if a is None or a.error:
            back.append(["O"] * len(stoks))
            continue
        links, scores = _reverse(list(a.links), list(a.scores) if a.scores else [1.0] * len(a.links))
        labels, _ = project_spans(bio.spans(tlabels), links, len(stoks), scores, policy, stoks, ttoks)
        back.append(labels)
    return span_prf([it[1] for it in items], back)["f1"]


def consensus_scores(outputs: dict) -> dict:
    """Mean span F1 of each candidate's labels against every other candidate's."""
    keys = list(outputs)
    out = {}
    for k in keys:
        others = [span_prf(outputs[o], outputs[k])["f1"] for o in keys if o != k]
        out[k] = sum(others) / len(others) if others else 0.0
    return out


def choose(items: Sequence, candidates: dict, criterion: str = "roundtrip") -> tuple:
    """Pick among ``candidates`` ({key: (alignments, policy)}) without gold.
    Returns (best key, {key: criterion value}); ties go to the first key."""
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}")
    outputs = {k: project_all(items, al, pol) for k, (al, pol) in candidates.items()}
    if criterion == "roundtrip":
        scores = {k: roundtrip_f1(items, candidates[k][0], candidates[k][1], outputs[k]) for k in candidates}
    else:
        scores = consensus_scores(outputs)
    keys = list(candidates)
    best = max(keys, key=lambda k: (scores[k], -keys.index(k)))
    return best, scores


def roundtrip_by_layer(aligner, items, policy: ProjectionPolicy, layers=None) -> dict:
    """Round-trip F1 of each candidate layer of ``aligner`` (its method), from
    one embedding pass over ``items`` [(src_tokens, src_labels, tgt_tokens)]."""
    layers = list(layers or aligner.candidate_layers())
    items = [it for it in items if it[0] and it[2]]
    sents = aligner._tokenize([list(it[0]) for it in items] + [list(it[2]) for it in items])
    vecs = aligner._embed(sents, layers)
    n = len(items)
    ok = [k for k in range(n) if vecs[k] is not None and vecs[n + k] is not None
          and sents[k].positions and sents[n + k].positions]
    kept = [items[k] for k in ok]
    out = {}
    for layer in layers:
        als = aligner._extract([(sents[k], sents[n + k]) for k in ok],
                               [(vecs[k][layer], vecs[n + k][layer]) for k in ok])
        out[layer] = roundtrip_f1(kept, als, policy)
    return out


class RoundTripLayer:
    """Layer chooser for ``AlignStep(layer="auto", choose_layer=...)``: the
    candidate layer whose projection of the sample's labels comes back intact
    (round-trip F1); labels on ``from_side``.  Picklable (plain data)."""

    def __init__(self, policy: ProjectionPolicy, from_side: str = "src"):
        self.policy = policy
        self.from_side = from_side

    def __call__(self, aligner, sample) -> tuple[int, dict]:
        """sample: [(src_tokens, tgt_tokens, record)] -> (layer, {layer: round-trip F1})."""
        items = []
        for src, tgt, record in sample:
            labels = getattr(record, f"{self.from_side}_labels", None)
            if not labels:
                continue
            a, b = (src, tgt) if self.from_side == "src" else (tgt, src)
            if len(labels) != len(a):
                continue
            try:
                bio.spans(labels)
            except bio.BioError:
                continue
            items.append((list(a), list(labels), list(b)))
        layers = aligner.candidate_layers()
        if len(items) < 2:
            return aligner.choose_layer([(s, t) for s, t, _ in sample])
        scores = roundtrip_by_layer(aligner, items, self.policy, layers)
        best = max(layers, key=lambda layer: (scores[layer], -layer))
        return best, scores
