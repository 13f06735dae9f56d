"""Tag words with a Hugging Face token-classification model (NER, POS).

``AnnotateStep`` is a ModelStep: the model (hub id or local directory) is
loaded once per worker process.  Words go in pre-split
(``is_split_into_words=True``); each word takes the label of its first
subword.  A sentence longer than the model's limit is rejected
(``too_long``) rather than truncated, so no word is left unlabelled.
Invalid BIO from the model (I-X after O) is repaired to B-X and counted in
``scores['annotate_bio_fixes']``.
"""
from __future__ import annotations

from xlaug.transforms import bio
from xlaug.transforms.record import Record, Rejected
from xlaug.transforms.stage import ModelStep
from xlaug.transforms.tokenize import simple_tokenize


class Tagger:
    """A token classifier on one device; ``tag(sentences)`` -> labels per word."""

    def __init__(self, model: str, device: str = "auto"):
        from transformers import AutoModelForTokenClassification, AutoTokenizer

        from xlaug.transforms.quiet import load_pretrained
        from xlaug.transforms.worker import resolve_device
        self.device = resolve_device(device)
        self.tokenizer = AutoTokenizer.from_pretrained(model)
        if not getattr(self.tokenizer, "is_fast", False):
            raise ValueError(f"{model}: a fast tokenizer is needed (word ids per subword)")
        self.net = load_pretrained(AutoModelForTokenClassification, model).to(self.device).eval()
        self.id2label = {int(k): v for k, v in self.net.config.id2label.items()}
        self.bio = bio.is_bio(self.id2label.values())
        limit = getattr(self.tokenizer, "model_max_length", 512) or 512
        self.limit = min(limit, getattr(self.net.config, "max_position_embeddings", limit) or limit)

    def subword_count(self, words) -> int:
        """Subwords of a sentence with the model's two special tokens."""
        return sum(len(self.tokenizer.tokenize(w)) or 1 for w in words) + 2

    def tag(self, sentences: list[list[str]]) -> list[list[str]]:
        """One label per word of each sentence (one forward pass)."""
        import torch
        enc = self.tokenizer(sentences, is_split_into_words=True, padding=True,
                             truncation=False, return_tensors="pt")
        with torch.inference_mode():
            logits = self.net(**{k: v.to(self.device) for k, v in enc.items()}).logits
        pred = logits.argmax(-1).cpu().tolist()
        out = []
        for b, words in enumerate(sentences):
            labels: list[str | None] = [None] * len(words)
            for pos, w in enumerate(enc.word_ids(b)):
                if w is not None and labels[w] is None:
                    labels[w] = self.id2label[pred[b][pos]]
            # A word the tokenizer turned into nothing (e.g. a lone control
            # character) has no subword to read; call it outside any span.
            out.append([l if l is not None else ("O" if self.bio else "X") for l in labels])
        return out


class AnnotateStep(ModelStep):
    name = "annotate"
    score_ranges = {"annotate_bio_fixes": (0.0, 5.0)}

    def __init__(self, model: str, *, side: str = "tgt", batch_size: int = 16, device: str = "auto",
                 threads: int | None = None):
        if side not in ("src", "tgt"):
            raise ValueError("side must be 'src' or 'tgt'")
        self.model, self.side, self.batch_size = model, side, max(1, int(batch_size))
        self.device, self.threads = device, threads

    def model_spec(self) -> dict:
        return {"model": self.model, "device": self.device}

    def load_model(self) -> Tagger:
        return Tagger(self.model, self.device)

    def process_batch(self, records, context=None, model=None):
        tagger = model if model is not None else self.shared_model()
        todo = []
        for r in records:
            words = getattr(r, f"{self.side}_tokens")
            if words is None and r.text(self.side) is not None:
                words = simple_tokenize(r.text(self.side))
            if not words:
                yield Rejected.of(r, self.name, "empty_text", f"{self.side} side has no words to tag")
                continue
            n_sub = tagger.subword_count(words)
            if n_sub > tagger.limit:
                yield Rejected.of(r, self.name, "too_long",
                                  f"{n_sub} subwords, tagger takes at most {tagger.limit}")
                continue
            todo.append((r, list(words)))
        if not todo:
            return
        for (r, words), labels in zip(todo, tagger.tag([w for _, w in todo])):
            fixes = 0
            if tagger.bio:
                labels, fixes = bio.repair(labels)
            out = r.replace(**{f"{self.side}_tokens": tuple(words), f"{self.side}_labels": tuple(labels)})
            yield out.with_scores(annotate_bio_fixes=fixes).with_origin(self.name, self.model, side=self.side)

    def process(self, record: Record):
        return self.process_batch([record])
