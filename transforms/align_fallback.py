"""Word alignment for projection until the batched aligner (transforms/align.py)
is merged: simalign's ``SentenceAligner`` behind the same interface
(``WordAligner(model, layer=, method=).align(pairs) -> [Alignment]``).

``aligner_class()`` prefers ``transforms.align.WordAligner`` when it exists, so
the switch is that one import.  simalign embeds one pair per call; it is the
reference the batched aligner is tested against, so links are the same.
"""
from __future__ import annotations

from dataclasses import dataclass

from transforms.project import simple_tokenize
from transforms.record import Record, Rejected
from transforms.stage import Step

# our method name -> simalign's matching_methods letter and matrix key
METHODS = {"argmax": ("a", "inter"), "itermax": ("i", "itermax"), "match": ("m", "mwmf"),
           "fwd": ("f", "fwd"), "rev": ("r", "rev")}


@dataclass(frozen=True)
class Alignment:
    links: tuple[tuple[int, int], ...]
    scores: tuple[float, ...]
    error: str | None = None


class SimAlignWordAligner:
    """simalign's extraction; each word link scored by the best cosine
    similarity ((cos+1)/2, as simalign) among its subword pairs."""

    def __init__(self, model, *, layer=8, method="argmax", device="auto", batch_size=32,
                 threads=None, long_input="reject", **opts):
        if method not in METHODS:
            raise ValueError(f"method must be one of {sorted(METHODS)}")
        if long_input != "reject":
            raise ValueError("the simalign fallback only supports long_input='reject'")
        self.model, self.layer, self.method = model, layer, method
        self.device = device
        self.threads = threads
        self._sa = None

    def _load(self):
        import torch
        from simalign import SentenceAligner
        if self.threads:
            torch.set_num_threads(int(self.threads))
        device = self.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self._sa = SentenceAligner(model=self.model, token_type="bpe", layer=self.layer, device=device,
                                   matching_methods=METHODS[self.method][0])
        self._limit = getattr(self._sa.embed_loader.tokenizer, "model_max_length", 512) or 512

    def align(self, pairs):
        if self._sa is None:
            self._load()
        return [self._align_one(list(s), list(t)) for s, t in pairs]

    def _align_one(self, src, tgt):
        import numpy as np
        if not src or not tgt:
            return Alignment((), (), "empty_text")
        sa = self._sa
        tok = sa.embed_loader.tokenizer
        pieces = [[tok.tokenize(w) for w in sent] for sent in (src, tgt)]
        maps = [[i for i, wl in enumerate(sent) for _ in wl] for sent in pieces]
        if max(len(m) for m in maps) + 2 > self._limit:
            return Alignment((), (), "too_long")
        vecs = sa.embed_loader.get_embed_list([src, tgt]).cpu().detach().numpy()
        x, y = vecs[0, :len(maps[0])], vecs[1, :len(maps[1])]
        sim = sa.get_similarity(x, y)
        sim = sa.apply_distortion(sim, sa.distortion)
        mats = {}
        mats["fwd"], mats["rev"] = sa.get_alignment_matrix(sim)
        key = METHODS[self.method][1]
        if key == "inter":
            mat = mats["fwd"] * mats["rev"]
        elif key == "itermax":
            mat = sa.iter_max(sim)
        elif key == "mwmf":
            mat = sa.get_max_weight_match(sim)
        else:
            mat = mats[key]
        best: dict[tuple[int, int], float] = {}
        for i, j in zip(*np.nonzero(mat)):
            w = (maps[0][i], maps[1][j])
            best[w] = max(best.get(w, 0.0), float(sim[i, j]))
        links = tuple(sorted(best))
        return Alignment(links, tuple(best[w] for w in links), None)


def aligner_class():
    """The batched WordAligner once merged, else the simalign fallback."""
    try:
        from transforms.align import WordAligner  # noqa: F401  (other engineer's module)
        return WordAligner
    except ImportError:
        return SimAlignWordAligner


class AlignWordsStep(Step):
    """Fill record.alignment / link_scores / scores['align_coverage'] from tokens."""

    name = "align"
    score_ranges = {"align_coverage": (0.0, 1.0)}

    def __init__(self, model: str, *, layer: int = 8, method: str = "argmax", device: str = "auto",
                 batch_size: int = 32, threads: int | None = None):
        self.model, self.layer, self.method = model, layer, method
        self.device, self.batch_size, self.threads = device, batch_size, threads
        self._aligner = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_aligner"] = None  # the model never travels; each worker loads its own
        return state

    def setup(self):
        if self._aligner is None:
            cls = aligner_class()
            self._aligner = cls(self.model, layer=self.layer, method=self.method, device=self.device,
                                batch_size=self.batch_size, threads=self.threads)

    def process_batch(self, records):
        todo = []
        for r in records:
            if r.text("tgt") is None:
                yield Rejected.of(r, self.name, "no_target",
                                  "record has no target text: give a parallel input or a translation step")
                continue
            # Untokenised text (e.g. MT output) is split off its punctuation.
            src, tgt = (r.tokens(side) if getattr(r, f"{side}_tokens") is not None
                        else simple_tokenize(r.text(side)) for side in ("src", "tgt"))
            if not src or not tgt:
                yield Rejected.of(r, self.name, "empty_text", "src or tgt side has no tokens")
            else:
                todo.append((r, src, tgt))
        if not todo:
            return
        results = self._aligner.align([(list(s), list(t)) for _, s, t in todo])
        for (r, src, tgt), a in zip(todo, results):
            if a.error:
                yield Rejected.of(r, self.name, a.error, f"aligner: {a.error}")
                continue
            covered = len({i for i, _ in a.links}) + len({j for _, j in a.links})
            yield r.replace(src_tokens=tuple(src), tgt_tokens=tuple(tgt), alignment=a.links,
                            link_scores=a.scores).with_scores(
                align_coverage=covered / (len(src) + len(tgt))).with_origin(
                self.name, self.model, layer=self.layer, method=self.method)

    def process(self, record: Record):
        yield from self.process_batch([record])
