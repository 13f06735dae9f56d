"""Tag words with a Hugging Face token-classification model (NER, POS).

The model (hub id or local directory) is loaded in ``setup`` on the worker.
Words go in pre-split (``is_split_into_words=True``); each word takes the
label of its first subword.  A sentence longer than the model's limit is
rejected (``too_long``) rather than truncated, so no word is left unlabelled.
Invalid BIO from the model (I-X after O) is repaired to B-X and counted in
``scores['annotate_bio_fixes']``.
"""
from __future__ import annotations

from xlaug.transforms import bio
from xlaug.transforms.tokenize import simple_tokenize
from xlaug.transforms.record import Record, Rejected
from xlaug.transforms.stage import Step


class AnnotateStep(Step):
    name = "annotate"
    score_ranges = {"annotate_bio_fixes": (0.0, 5.0)}

    def __init__(self, model: str, *, side: str = "tgt", batch_size: int = 16, device: str = "auto",
                 threads: int | None = None):
        if side not in ("src", "tgt"):
            raise ValueError("side must be 'src' or 'tgt'")
        self.model, self.side, self.batch_size = model, side, batch_size
        self.device, self.threads = device, threads
        self._tok = self._net = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_tok"] = state["_net"] = None  # each worker loads its own model
        return state

    def setup(self):
        if self._net is not None:
            return
        import torch
        from transformers import AutoModelForTokenClassification, AutoTokenizer
        if self.threads:
            torch.set_num_threads(int(self.threads))
        dev = self.device
        if dev == "auto":
            dev = "cuda" if torch.cuda.is_available() else "cpu"
        self._dev = dev
        self._tok = AutoTokenizer.from_pretrained(self.model)
        if not getattr(self._tok, "is_fast", False):
            raise ValueError(f"{self.model}: a fast tokenizer is needed (word ids per subword)")
        self._net = AutoModelForTokenClassification.from_pretrained(self.model).to(dev).eval()
        self._id2label = {int(k): v for k, v in self._net.config.id2label.items()}
        self._bio = bio.is_bio(self._id2label.values())
        limit = getattr(self._tok, "model_max_length", 512) or 512
        self._limit = min(limit, getattr(self._net.config, "max_position_embeddings", limit) or limit)

    def process(self, record: Record):
        yield from self.process_batch([record])

    def process_batch(self, records):
        import torch
        todo = []
        for r in records:
            words = getattr(r, f"{self.side}_tokens")
            if words is None and r.text(self.side) is not None:
                words = simple_tokenize(r.text(self.side))
            if not words:
                yield Rejected.of(r, self.name, "empty_text", f"{self.side} side has no words to tag")
                continue
            n_sub = sum(len(self._tok.tokenize(w)) or 1 for w in words) + 2
            if n_sub > self._limit:
                yield Rejected.of(r, self.name, "too_long",
                                  f"{n_sub} subwords, tagger takes at most {self._limit}")
                continue
            todo.append((r, list(words)))
        if not todo:
            return
        enc = self._tok([w for _, w in todo], is_split_into_words=True, padding=True,
                        truncation=False, return_tensors="pt")
        with torch.inference_mode():
            logits = self._net(**{k: v.to(self._dev) for k, v in enc.items()}).logits
        pred = logits.argmax(-1).cpu().tolist()
        for b, (r, words) in enumerate(todo):
            labels: list[str | None] = [None] * len(words)
            for pos, w in enumerate(enc.word_ids(b)):
                if w is not None and labels[w] is None:
                    labels[w] = self._id2label[pred[b][pos]]
            # A word the tokenizer turned into nothing (e.g. a lone control
            # character) has no subword to read; call it outside any span.
            labels = [l if l is not None else ("O" if self._bio else "X") for l in labels]
            fixes = 0
            if self._bio:
                labels, fixes = bio.repair(labels)
            out = r.replace(**{f"{self.side}_tokens": tuple(words), f"{self.side}_labels": tuple(labels)})
            yield out.with_scores(annotate_bio_fixes=fixes).with_origin(self.name, self.model, side=self.side)
