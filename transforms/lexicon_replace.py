"""Dictionary replacement: code-switch a monolingual sentence with a lexicon.

Left to right, at each position the longest lexicon entry that may be
replaced is found (multi-word entries first); it is replaced with
probability ``prob`` by one of its translations (by weight when the lexicon
has weights and ``choice="weight"``, else uniformly).  A declined match is
copied whole, so a part of it is not replaced instead.

A span may not be replaced when: every word in it is a stop word; one of its
labels is in ``exclude_tags`` (POS tags given as labels); ``keep_entities``
and it touches an entity; its labels are mixed (O with an entity, two
entities, different POS tags), since the new words could not be labelled.
Labels of a replaced span: the first new word takes the first old label, the
rest continue it (``I-X`` for BIO, the same tag otherwise).  Case: an UPPER
source span gives UPPER words, a Title-case one a capitalised first word;
otherwise the lexicon's spelling is kept (German nouns stay capitalised).
"""
from __future__ import annotations

import os
from typing import Iterable, Sequence

from xlaug.transforms import bio
from xlaug.transforms.mixing import cmi, switch_points
from xlaug.transforms.record import Record, Rejected
from xlaug.transforms.seeding import seeded_rng
from xlaug.transforms.segment import join_tokens, needs_segmentation, segment_words
from xlaug.transforms.stage import Step

# A small English stop-word list (function words); --stopwords FILE|w1,w2 for others.
STOPWORDS = {
    "en": frozenset("""a an the and or but if then of at by for with about to from in on into
        over under up down out off is are was were be been being am do does did have has had
        i me my we our you your he him his she her it its they them their this that these those
        who whom which what not no nor so than too very can will just should would could may
        as there here all any both each few more most other some such only own same""".split()),
}


def load_stopwords(spec: str | Iterable[str] | None) -> frozenset[str]:
    """``None`` -> none; a shipped list name (``en``); a file (one word a line,
    ``#`` comments); or words separated by commas."""
    if spec is None:
        return frozenset()
    if not isinstance(spec, str):
        return frozenset(w.lower() for w in spec)
    if spec in STOPWORDS:
        return STOPWORDS[spec]
    from xlaug.transforms import storage
    if os.path.isfile(spec) or (storage.is_remote(spec) and storage.exists(spec)):
        words = storage.read_text(spec).splitlines()
        return frozenset(w.strip().lower() for w in words if w.strip() and not w.startswith("#"))
    if "," in spec or (os.sep not in spec and "." not in spec):
        return frozenset(w.strip().lower() for w in spec.split(",") if w.strip())
    raise ValueError(f"{spec}: stop-word file not found")


def keep_case(source: Sequence[str], words: Sequence[str]) -> list[str]:
    """Carry the source span's case pattern over to the replacement."""
    letters = "".join(ch for w in source for ch in w if ch.isalpha())
    if len(letters) > 1 and letters.isupper():
        return [w.upper() for w in words]
    if source[0][:1].isupper():
        return [words[0][:1].upper() + words[0][1:]] + list(words[1:])
    return list(words)


def replacement_labels(labels: Sequence[str], n_new: int, is_bio: bool) -> list[str] | None:
    """Labels for ``n_new`` words replacing a span, or None when the span's
    labels are mixed and no labelling would be right."""
    first = labels[0]
    if is_bio:
        if first == "O":
            return ["O"] * n_new if all(l == "O" for l in labels) else None
        typ = first[2:]
        if any(l != "I-" + typ for l in labels[1:]):
            return None
        return [first] + ["I-" + typ] * (n_new - 1)
    return [first] * n_new if all(l == first for l in labels) else None


class LexiconReplaceStep(Step):
    """Replace words of the src side with lexicon translations; the result
    goes to ``tgt_tokens`` with ``token_langs``; ids ``{id}-lx{k}``."""

    name = "lexicon_replace"
    score_ranges = {"cmi": (0.0, 100.0), "switch_points": (0.0, 20.0), "alpha": (0.0, 1.0)}

    def __init__(self, lexicon, prob: float = 0.3, stopwords=None, exclude_tags: Iterable[str] = (),
                 choice: str = "weight", samples: int = 1, seed: int = 0,
                 keep_entities: bool = False, embedded_lang: str | None = None,
                 segmenter: str = "auto"):
        if not 0.0 < prob <= 1.0:
            raise ValueError(f"prob must be in (0, 1], got {prob}")
        if choice not in ("weight", "uniform"):
            raise ValueError(f"choice must be 'weight' or 'uniform', got {choice!r}")
        if int(samples) < 1:
            raise ValueError(f"samples must be at least 1, got {samples}")
        self.lexicon_spec = lexicon          # a Lexicon, or a path/name loaded in setup()
        self.lexicon = lexicon if not isinstance(lexicon, str) else None
        self.prob = float(prob)
        self.stopwords = load_stopwords(stopwords)
        self.exclude_tags = frozenset(exclude_tags)
        self.segmenter = segmenter  # words of untokenised zh/ja/th/... source text
        self.choice = choice
        self.samples = int(samples)
        self.seed = int(seed)
        self.keep_entities = bool(keep_entities)
        self.embedded_lang = embedded_lang

    def setup(self) -> None:
        if self.lexicon is None:
            from xlaug.dictionaries import load_lexicon
            self.lexicon = load_lexicon(self.lexicon_spec)

    def params(self) -> dict:
        return {"lexicon": getattr(self.lexicon, "name", None) or str(self.lexicon_spec),
                "prob": self.prob, "choice": self.choice, "samples": self.samples,
                "seed": self.seed, "keep_entities": self.keep_entities,
                "exclude_tags": sorted(self.exclude_tags), "stopwords": len(self.stopwords)}

    def _allowed(self, words, labels, is_bio) -> bool:
        if all(w.lower() in self.stopwords for w in words):
            return False
        if labels is None:
            return True
        if any(l in self.exclude_tags for l in labels):
            return False
        if self.keep_entities and is_bio and any(l != "O" for l in labels):
            return False
        return True

    def replace_once(self, tokens, labels, rng):
        """One sample: (tokens, replaced flags, labels, links src->out)."""
        lex = self.lexicon
        is_bio = labels is not None and bio.is_bio(labels)
        out, flags, out_labels, links = [], [], [], []
        i, n = 0, len(tokens)
        while i < n:
            match = None
            for size in range(min(lex.max_len, n - i), 0, -1):
                words = tokens[i:i + size]
                options = lex.lookup(words)
                if not options:
                    continue
                span_labels = labels[i:i + size] if labels is not None else None
                if span_labels is not None and replacement_labels(span_labels, 1, is_bio) is None:
                    continue  # mixed labels: the new words could not be labelled
                if self._allowed(words, span_labels, is_bio):
                    match = (size, options, span_labels)
                    break
            if match is None:
                size = 1
            elif rng.random() < self.prob:
                size, options, span_labels = match
                tgt = self._choose(options, rng)
                new = keep_case(tokens[i:i + size], tgt)
                start = len(out)
                out.extend(new)
                flags.extend([True] * len(new))
                if labels is not None:
                    out_labels.extend(replacement_labels(span_labels, len(new), is_bio))
                links.extend((a, b) for a in range(i, i + size) for b in range(start, len(out)))
                i += size
                continue
            else:
                size = match[0]
            for k in range(i, i + size):  # copied unchanged (a declined match whole)
                links.append((k, len(out)))
                out.append(tokens[k])
                flags.append(False)
                if labels is not None:
                    out_labels.append(labels[k])
            i += size
        return out, flags, (out_labels if labels is not None else None), links

    def _choose(self, options, rng):
        if len(options) == 1:
            return options[0][0]
        if self.choice == "weight" and self.lexicon.weighted:
            return rng.choices([t for t, _ in options], weights=[w for _, w in options])[0]
        return options[rng.randrange(len(options))][0]

    def process(self, record: Record):
        tokens = record.tokens("src")
        if record.src_tokens is None and tokens and needs_segmentation(record.src_text):
            tokens = segment_words(record.src_text, self.segmenter)
        if not tokens:
            yield Rejected.of(record, self.name, "empty_text", "no source tokens to replace")
            return
        labels = record.src_labels
        if labels is not None and len(labels) != len(tokens):
            yield Rejected.of(record, self.name, "label_mismatch",
                              f"src_labels has {len(labels)} items for {len(tokens)} tokens")
            return
        m_lang = record.src_lang or self.lexicon.src_lang or "src"
        e_lang = self.embedded_lang or self.lexicon.tgt_lang or "tgt"
        seen, made = {tuple(tokens)}, []
        for attempt in range(4 * self.samples + 16):
            if len(made) >= self.samples:
                break
            rng = seeded_rng(self.seed, "lexicon", record.id, attempt)
            out, flags, out_labels, links = self.replace_once(tokens, labels, rng)
            if not any(flags) or tuple(out) in seen:
                continue
            seen.add(tuple(out))
            made.append((out, flags, out_labels, links))
        for k, (out, flags, out_labels, links) in enumerate(made):
            langs = tuple(e_lang if f else m_lang for f in flags)
            rec = record.replace(
                id=f"{record.id}-lx{k}", src_tokens=tuple(tokens), tgt_tokens=tuple(out),
                tgt_text=join_tokens(out), tgt_labels=out_labels, token_langs=langs,
                tgt_lang=f"{m_lang}-{e_lang}", alignment=tuple(links), link_scores=None)
            rec = rec.with_scores(cmi=cmi(out, langs), switch_points=switch_points(out, langs),
                                  alpha=sum(flags) / len(out))
            # Marked as made from its parent: the identity check counts children by this.
            yield rec.with_origin(self.name, None, parent=record.id, siblings=len(made), child=k,
                                  **self.params())
        if not made:
            yield Rejected.of(record, self.name, "no_replacement",
                              "no word of the sentence was replaced (no allowed lexicon match, "
                              f"or none drawn at prob={self.prob})")
