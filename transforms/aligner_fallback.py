"""Word aligner used by code-switching and ``dict induce`` when pairs have no links.

Prefers the project's batched ``transforms.align.WordAligner`` when it is
present; until then a thin adapter over ``simalign.SentenceAligner`` with the
same shape (``align(pairs) -> list[Alignment]``) stands in.  simalign is
imported in ``load()``, never at module import (it costs ~9 s).
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

from transforms.record import Record, Rejected
from transforms.stage import Step

_METHODS = {"argmax": ("a", "inter"), "itermax": ("i", "itermax"), "match": ("m", "mwmf")}


class Alignment(NamedTuple):
    links: tuple[tuple[int, int], ...]
    scores: tuple[float, ...]
    error: str | None = None


class SimAlignWordAligner:
    """simalign behind the WordAligner interface (one pair per forward pass)."""

    def __init__(self, model: str, *, layer: int = 8, method: str = "argmax", device: str = "cpu",
                 threads: int | None = None, **_):
        if method not in _METHODS:
            raise ValueError(f"method must be one of {', '.join(_METHODS)}, got {method!r}")
        self.model, self.layer, self.method, self.device, self.threads = model, layer, method, device, threads
        self._aligner = None

    def load(self):
        if self._aligner is None:
            import torch
            if self.threads:
                torch.set_num_threads(int(self.threads))
            from simalign import SentenceAligner
            code, _ = _METHODS[self.method]
            device = "cuda" if self.device == "auto" and torch.cuda.is_available() else \
                ("cpu" if self.device == "auto" else self.device)
            self._aligner = SentenceAligner(model=self.model, token_type="bpe",
                                            matching_methods=code, layer=self.layer, device=device)
        return self

    def align(self, pairs: Sequence[tuple[Sequence[str], Sequence[str]]]) -> list[Alignment]:
        self.load()
        _, key = _METHODS[self.method]
        out = []
        for src, tgt in pairs:
            if not src or not tgt:
                out.append(Alignment((), (), "empty side"))
                continue
            try:
                links = tuple(sorted(self._aligner.get_word_aligns(list(src), list(tgt))[key]))
            except Exception as e:  # one bad pair must not sink the batch
                out.append(Alignment((), (), f"{type(e).__name__}: {e}"))
                continue
            out.append(Alignment(links, tuple(1.0 for _ in links), None))
        return out


def make_word_aligner(model: str, **kw):
    """The project's WordAligner when merged, else the simalign adapter."""
    try:
        from transforms.align import WordAligner
    except ImportError:
        return SimAlignWordAligner(model, **kw)
    return WordAligner(model, **kw)


class AlignMissingStep(Step):
    """Align only the records that carry no links (others pass through)."""

    name = "align"
    score_ranges = {"align_coverage": (0.0, 1.0)}

    def __init__(self, model: str, *, layer: int = 8, method: str = "argmax", device: str = "auto",
                 threads: int | None = 1, batch_size: int = 16):
        self.model, self.layer, self.method, self.device, self.threads = model, layer, method, device, threads
        self.batch_size = int(batch_size)
        self.aligner = None

    def setup(self) -> None:
        if self.aligner is None:
            self.aligner = make_word_aligner(self.model, layer=self.layer, method=self.method,
                                             device=self.device, threads=self.threads)

    def process(self, record: Record):
        yield from self.process_batch([record])

    def process_batch(self, records):
        todo = [k for k, r in enumerate(records)
                if not r.alignment and r.tokens("src") and r.tokens("tgt")]
        found = self.aligner.align([(records[k].tokens("src"), records[k].tokens("tgt"))
                                    for k in todo]) if todo else []
        results = dict(zip(todo, found))
        for k, r in enumerate(records):
            a = results.get(k)
            if a is None:
                yield r
            elif a.error:
                yield Rejected.of(r, self.name, "align_failed", a.error)
            else:
                n = len(r.tokens("src")) + len(r.tokens("tgt"))
                covered = len({i for i, _ in a.links}) + len({j for _, j in a.links})
                yield r.replace(src_tokens=r.tokens("src"), tgt_tokens=r.tokens("tgt"),
                                alignment=a.links, link_scores=a.scores) \
                    .with_scores(align_coverage=covered / n) \
                    .with_origin(self.name, self.model, layer=self.layer, method=self.method)
