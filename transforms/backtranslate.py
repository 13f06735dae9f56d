"""Back-translation: records in, translated records out.

``BackTranslate`` is a ModelStep like every model stage: the same core runs
in plain Python (``BackTranslate(...).run(records)``) and under Beam
(``ApplyStep(BackTranslate(...))``: batches through RunInference with our
ModelHandler, the models loaded once per worker process).

What ``process_batch`` does with a batch of records:
  check      a record in another source language, or with no text, is rejected
  split      an input over the model's limit is split on sentence boundaries
             into chunks within the limit (``long_input="split"``, never
             truncated) or rejected (``"reject"``)
  translate  every input and chunk of the batch in one call (the Translator
             sorts them by length under the token budget); a failing call is
             retried input by input, so a bad input rejects its record only
  rejoin     hypothesis k of a split input = the chunks' hypotheses k joined
             by a space, score = the mean of theirs
  records    one per hypothesis (``n`` > 1: ids ``-bt1..n``), scores
             ``bt_rank`` and ``bt_score``
  round trip (with ``round_trip_model``) each hypothesis translated back and
             scored against the original: ``rt_bleu``, ``rt_chrf``

Batches: records sorted by token count and cut under ``batch_tokens`` and
``max_batch_size`` (``batch_weight``: SortAndBatchElements under Beam, the
same rule in ``run``); ``bucketing=False`` gives fixed-size batches in
arrival order, for comparison.
"""
from __future__ import annotations

import json
import threading
from collections import OrderedDict

from xlaug.transforms.progress import count
from xlaug.transforms.record import Record, Rejected
from xlaug.transforms.segment import join_tokens, split_sentences
from xlaug.transforms.seq2seq import Decoding, Translator
from xlaug.transforms.stage import ModelStep

STAGE = "backtranslate"
LONG_INPUT = ("split", "reject")
FORWARD, BACK = "forward", "back"
ENGINES = ("hf", "ct2")
# Token ids kept from the length check (``weight``) until the batch that
# translates them: enough for the records of a sort window in flight.
ENCODED_KEPT = 20_000
# Per process and tokenizer: the weighing DoFn and the inference DoFn hold
# copies of the stage, so the kept ids live here, not on the stage.
_KEPT: dict = {}
_KEPT_LOCK = threading.Lock()


def make_translator(kwargs: dict) -> Translator:
    """The translator of one direction for its engine (``hf`` or ``ct2``)."""
    kw = dict(kwargs)
    engine = kw.pop("engine", "hf")
    compute_type, ct2_model = kw.pop("compute_type", None), kw.pop("ct2_model", None)
    if engine == "ct2":
        from xlaug.transforms.ct2 import Ct2Translator
        return Ct2Translator(compute_type=compute_type, ct2_model=ct2_model, **kw)
    return Translator(**kw)


def tokenizer_only(kwargs: dict) -> Translator:
    """A translator that only tokenizes: the same for both engines."""
    kw = {k: v for k, v in kwargs.items() if k not in ("engine", "compute_type", "ct2_model")}
    return Translator(**kw).load_tokenizer()


class Translators:
    """The loaded models of one stage: the forward direction and, with a
    round trip, the way back.  Only methods are called on it (Beam's
    ``large_model`` hands out a proxy that supports nothing else)."""

    def __init__(self, forward: dict, back: dict | None):
        self.models = {FORWARD: make_translator(forward).load()}
        if back is not None:
            self.models[BACK] = make_translator(back).load()

    def translate(self, direction: str, encoded: list[list[int]], keys: list[str],
                  decoding: Decoding) -> list[list[tuple[str, float]]]:
        return self.models[direction].translate_encoded(encoded, keys, decoding)


def _error(e: Exception) -> dict:
    text = str(e).splitlines()[0] if str(e) else ""
    return {"error": f"{type(e).__name__}: {text}"}


def translate_isolated(model, direction: str, encoded: list[list[int]], keys: list[str],
                       decoding: Decoding) -> list:
    """``model.translate`` for a batch; when it fails, input by input, so that
    one bad input gives ``{"error": ...}`` in its place and the others their
    hypotheses."""
    if not encoded:
        return []
    try:
        return model.translate(direction, encoded, keys, decoding)
    except Exception:
        out = []
        for ids, key in zip(encoded, keys):
            try:
                out.append(model.translate(direction, [ids], [key], decoding)[0])
            except Exception as e:
                out.append(_error(e))
        return out


class _Side:
    """One direction's tokenizer and limits: what preparing inputs needs."""

    def __init__(self, kwargs: dict, long_input: str, reason_prefix: str):
        self.translator = tokenizer_only(kwargs)
        self.limit = self.translator.max_input_tokens
        self.long_input, self.prefix = long_input, reason_prefix
        key = json.dumps({k: v for k, v in kwargs.items() if k not in ("engine", "compute_type", "ct2_model")},
                         sort_keys=True, default=str)
        with _KEPT_LOCK:
            self._kept = _KEPT.setdefault(key, OrderedDict())

    def count(self, text: str) -> int:
        return len(self.translator.encode(text))

    def weigh(self, text: str) -> int:
        """Token count of a record's text for batching; its ids are kept for
        ``prepare`` (tokenized once when both run in the same process)."""
        ids = self.translator.encode(text)
        with _KEPT_LOCK:
            self._kept[text] = ids
            if len(self._kept) > ENCODED_KEPT:
                self._kept.popitem(last=False)
        return len(ids)

    def encode(self, text: str) -> list[int]:
        with _KEPT_LOCK:
            ids = self._kept.pop(text, None)
        return ids if ids is not None else self.translator.encode(text)

    def prepare(self, record: Record, side: str, stage: str):
        """(inputs, None) with inputs = [(ids, key)] for the text of ``side``
        (several for a split input), or (None, Rejected)."""
        text, key = record.text(side), record.id
        if text is None or not text.strip():
            return None, Rejected.of(record, stage, self.prefix + "empty_text", f"no {side} text to translate")
        ids = self.encode(text)
        if len(ids) <= self.limit:
            return [(ids, key)], None
        if self.long_input == "reject":
            return None, Rejected.of(record, stage, self.prefix + "too_long",
                                     f"{len(ids)} tokens > model limit {self.limit}")
        chunks = self._pack(split_sentences(text))
        if chunks is None:
            return None, Rejected.of(record, stage, self.prefix + "too_long",
                                     f"{len(ids)} tokens > model limit {self.limit} and a single "
                                     f"sentence is over the limit (never truncated)")
        return [(self.translator.encode(c), f"{key}#{i}") for i, c in enumerate(chunks)], None

    def _pack(self, sentences: list[str]) -> list[str] | None:
        """Greedily pack sentences into chunks within the limit; None if one sentence is too long."""
        chunks, current = [], None
        for sentence in sentences:
            candidate = sentence if current is None else join_tokens((current, sentence))
            if self.count(candidate) <= self.limit:
                current = candidate
                continue
            if current is None or self.count(sentence) > self.limit:
                return None
            chunks.append(current)
            current = sentence
        if current is not None:
            chunks.append(current)
        return chunks


_SIDES: dict = {}


def _side(kwargs: dict, long_input: str, reason_prefix: str) -> _Side:
    """One ``_Side`` per process and settings: the weighing and the translating
    DoFns (copies of one stage) share its tokenizer instead of loading their own."""
    key = (json.dumps(kwargs, sort_keys=True, default=str), long_input, reason_prefix)
    with _KEPT_LOCK:
        side = _SIDES.get(key)
    if side is None:
        side = _Side(kwargs, long_input, reason_prefix)
        with _KEPT_LOCK:
            side = _SIDES.setdefault(key, side)
    return side


def _rejoin(parts: list) -> list[tuple[str, float]] | dict:
    """Results of one input's chunks -> its hypotheses, or the first error."""
    if len(parts) == 1:
        return parts[0]
    errors = [p for p in parts if isinstance(p, dict)]
    if errors:
        return errors[0]
    n = min(len(p) for p in parts)
    hyps = []
    for k in range(n):
        texts = [p[k][0] for p in parts]
        scores = [p[k][1] for p in parts]
        hyps.append((join_tokens(t for t in texts if t), sum(scores) / len(scores)))
    return hyps


class BackTranslate(ModelStep):
    """The back-translation stage.

    Translates each record's ``src_text`` (tokens joined by spaces when there is
    no text) from ``src_lang`` to ``tgt_lang`` into ``tgt_text``: ``src`` stays
    the human side, ``tgt`` is generated (MT training data uses tgt as source).
    ``n`` hypotheses give ``n`` records (ids suffixed ``-bt1..n``), each with
    scores ``bt_rank`` and ``bt_score`` (mean token log-prob).  With
    ``round_trip_model`` (tgt->src) each hypothesis is translated back and
    scored against the original: ``rt_bleu``, ``rt_chrf`` (0-100).
    """

    name = STAGE
    thresholds: dict = {}

    def __init__(self, model: str, src_lang: str | None = None, tgt_lang: str | None = None, *,
                 decoding: Decoding | None = None, round_trip_model: str | None = None,
                 long_input: str = "split", device: str = "auto", dtype: str = "float32",
                 threads: int | None = 1, batch_tokens: int = 4096, max_batch_size: int = 64,
                 bucketing: bool = True, src_code: str | None = None, tgt_code: str | None = None,
                 prefix: str | None = None, rt_prefix: str | None = None, family: str = "auto",
                 max_input_tokens: int | None = None, large_model: bool = False, engine: str = "hf",
                 compute_type: str | None = None, ct2_model: str | None = None):
        if long_input not in LONG_INPUT:
            raise ValueError(f"long_input must be one of {', '.join(LONG_INPUT)}")
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
        if batch_tokens < 1 or max_batch_size < 1:
            raise ValueError("batch_tokens and max_batch_size must be positive")
        self.model, self.src_lang, self.tgt_lang = model, src_lang, tgt_lang
        self.decoding = decoding or Decoding()
        self.round_trip_model, self.long_input = round_trip_model, long_input
        self.bucketing, self.large_model, self.threads = bucketing, large_model, threads
        common = dict(family=family, device=device, dtype=dtype, batch_tokens=batch_tokens,
                      max_batch_size=max_batch_size, max_input_tokens=max_input_tokens, sort=bucketing)
        if engine == "ct2":
            from xlaug.transforms.ct2 import COMPUTE_TYPES
            if compute_type is not None and compute_type not in COMPUTE_TYPES:
                raise ValueError(f"compute_type must be one of {', '.join(COMPUTE_TYPES)}, not {compute_type!r}")
            # CTranslate2's own thread pool: the stage's threads, as torch's for hf
            # (left unset, CTranslate2 would take every core of the machine).
            common.update(engine=engine, compute_type=compute_type, threads=threads)
        self.engine = engine
        self.forward_kwargs = dict(common, model=model, src_lang=src_code or src_lang,
                                   tgt_lang=tgt_code or tgt_lang, prefix=prefix)
        if engine == "ct2" and ct2_model:
            self.forward_kwargs["ct2_model"] = ct2_model
        self.back_kwargs = dict(common, model=round_trip_model, src_lang=tgt_code or tgt_lang,
                                tgt_lang=src_code or src_lang, prefix=rt_prefix) if round_trip_model else None
        # Batches: length-bucketed under the token budget, or fixed-size in arrival order.
        self.batch_size = max_batch_size
        if bucketing:
            self.batch_weight = batch_tokens
        else:
            self.min_batch_size = max_batch_size
        self.score_ranges = {"bt_score": (-10.0, 0.0), "bt_rank": (1, max(2, self.decoding.n))}
        if round_trip_model:
            self.score_ranges.update(rt_bleu=(0.0, 100.0), rt_chrf=(0.0, 100.0))
        self.rt_decoding = Decoding(mode="greedy" if self.decoding.mode != "beam" else "beam",
                                    num_beams=self.decoding.num_beams, n=1,
                                    max_new_tokens=self.decoding.max_new_tokens)
        self._sides = None

    # -- the contract ------------------------------------------------------
    def model_spec(self) -> dict:
        return {"forward": self.forward_kwargs, "back": self.back_kwargs}

    def load_model(self) -> Translators:
        return Translators(self.forward_kwargs, self.back_kwargs)

    def setup(self) -> None:
        """Tokenizers (to count, split and encode inputs) and sacrebleu."""
        if self._sides is not None:
            return
        sides = {FORWARD: _side(self.forward_kwargs, self.long_input, "")}
        if self.back_kwargs is not None:
            import sacrebleu
            self._sacrebleu = sacrebleu
            sides[BACK] = _side(self.back_kwargs, self.long_input, "round_trip_")
        self._sides = sides

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_sides"] = None  # tokenizers are loaded on the worker
        state.pop("_sacrebleu", None)
        return state

    def weight(self, record: Record) -> int:
        """Tokens of the source text: what a record costs in a batch."""
        self.setup()
        text = record.text("src")
        return self._sides[FORWARD].weigh(text) if text and text.strip() else 1

    def process(self, record: Record):
        return self.process_batch([record])

    def process_batch(self, records, context=None, model=None):
        self.setup()
        model = model if model is not None else self.shared_model()
        todo = []
        for record in records:
            if self.src_lang and record.src_lang and record.src_lang != self.src_lang:
                # A record in another language than the model's is refused, not mistranslated.
                yield Rejected.of(record, STAGE, "wrong_language",
                                  f"record src_lang {record.src_lang!r}, stage translates from {self.src_lang!r}")
                continue
            todo.append(record)
        round_trip = BACK in self._sides
        translated = []
        for record, result, n_chunks in self._translate(FORWARD, model, todo, "src", self.decoding):
            if isinstance(result, Rejected):
                yield result
                continue
            for item in self._to_records(record, result, n_chunks):
                if round_trip and isinstance(item, Record):
                    translated.append(item)
                else:
                    yield item
        if round_trip:
            yield from self._round_trip(model, translated)

    # -- steps of the core ----------------------------------------------------
    def _translate(self, direction: str, model, records: list[Record], side: str, decoding: Decoding):
        """(record, hypotheses | Rejected, n_chunks) for each record."""
        prep = self._sides[direction]
        out, inputs, spans = [], [], []
        for record in records:
            parts, rejected = prep.prepare(record, side, STAGE)
            if rejected is not None:
                out.append((record, rejected, 0))
                continue
            spans.append((record, len(inputs), len(parts)))
            inputs.extend(parts)
        results = translate_isolated(model, direction, [ids for ids, _ in inputs],
                                     [key for _, key in inputs], decoding)
        # Source tokens given to the model (both ways with round-trip): a Beam metric.
        count(self.name, "tokens_translated", sum(len(ids) for ids, _ in inputs))
        for record, start, n in spans:
            hyps = _rejoin(results[start:start + n])
            if isinstance(hyps, dict):
                out.append((record, Rejected.of(record, STAGE, prep.prefix + "generation_error",
                                                hyps["error"]), n))
            else:
                out.append((record, hyps, n))
        return out

    def _to_records(self, record: Record, hyps, n_chunks: int):
        """One output record per hypothesis, with rank, score and provenance."""
        src_lang = record.src_lang or self.src_lang
        tgt_lang = self.tgt_lang or record.tgt_lang
        if getattr(self, "_params", None) is None:
            self._params = self.decoding.params()  # the same for every record: made once
        params = dict(self._params, direction=f"{src_lang}->{tgt_lang}")
        if n_chunks > 1:
            params["chunks"] = n_chunks
        for rank, (text, score) in enumerate(hyps, 1):
            if self.decoding.n > 1:
                # A new record per hypothesis, marked as made from its parent
                # (the identity check counts a parent's children by this).
                rid = f"{record.id}-bt{rank}"
                made = dict(parent=record.id, siblings=len(hyps), child=rank - 1)
            else:
                rid, made = record.id, {}
            if not text.strip():
                empty = record.replace(id=rid)
                if made:
                    empty = empty.with_origin(STAGE, model=self.model, **made, **params)
                yield Rejected.of(empty, STAGE, "empty_translation", f"hypothesis {rank} is empty")
                continue
            # The generated side replaces any old target side; fields tied to it are cleared.
            out = record.replace(id=rid, src_lang=src_lang, tgt_lang=tgt_lang, tgt_text=text,
                                 tgt_tokens=None, tgt_labels=None, alignment=None,
                                 link_scores=None, token_langs=None)
            # The old target side described other text; it is cleared but kept
            # in the provenance, so no field vanishes without a trace.
            replaced = {"replaced_tgt": record.text("tgt")} if record.text("tgt") is not None else {}
            yield out.with_scores(bt_rank=rank, bt_score=score).with_origin(
                STAGE, model=self.model, **made, **params, **replaced)

    def _round_trip(self, model, records: list[Record]):
        direction = f"{self.tgt_lang}->{self.src_lang}"
        for record, result, _ in self._translate(BACK, model, records, "tgt", self.rt_decoding):
            if isinstance(result, Rejected):
                yield result
                continue
            back, original = result[0][0], record.text("src")
            bleu = self._sacrebleu.sentence_bleu(back, [original]).score
            chrf = self._sacrebleu.sentence_chrf(back, [original]).score
            yield record.with_scores(rt_bleu=bleu, rt_chrf=chrf).with_origin(
                "round_trip", model=self.round_trip_model, direction=direction, back_text=back)
