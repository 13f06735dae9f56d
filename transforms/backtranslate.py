"""Back-translation as a Beam stage: records in, translated records out.

Flow of ``TranslateText`` (used once forward, once more for the round trip):
  Prepare  (tokenizer only) empty/too-long checks, sentence split of long inputs
  batch    SortAndBatchElements by token count (bucketing on) or fixed-size
           BatchElements in arrival order (bucketing off)
  RunInference with ``Seq2SeqHandler`` keyed by the request, so each result
           goes back to its record whatever the order or batching
  Assemble single-chunk results directly; split inputs regrouped by GroupByKey

Beam 2.77 notes (checked in apache_beam/ml/inference/base.py and transforms/util.py):
``ModelHandler(max_batch_weight=...)`` is passed on to ``BatchElements``, which
does not accept it (TypeError), and ``batch_length_fn`` buckets only on the
stateful, time-bounded path.  So the token budget and length sorting come from
``SortAndBatchElements`` in front of a handler ``with_no_batching()``.
"""
from __future__ import annotations

import uuid

import apache_beam as beam
from apache_beam.ml.inference.base import KeyedModelHandler, ModelHandler, RunInference

from xlaug.transforms.record import Record, Rejected
from xlaug.transforms.seq2seq import Decoding, Translator, split_sentences
from xlaug.transforms.stage import REJECTED, StageOutput

STAGE = "backtranslate"
LONG_INPUT = ("split", "reject")
_CHUNKS = "chunks"


class Seq2SeqHandler(ModelHandler):
    """RunInference handler: examples are ``(text, key)``; predictions are a
    list of ``(hypothesis, score)`` or ``{"error": message}``.

    ``load_model`` returns the ``Translator`` (an object with methods, so it
    also works behind the proxy that ``large_model=True`` hands out).
    ``bucketing=False`` asks RunInference for fixed-size batches in arrival order.
    """

    def __init__(self, translator_kwargs: dict, decoding: Decoding, *, bucketing: bool = True,
                 large_model: bool = False):
        size = int(translator_kwargs.get("max_batch_size", 64))
        super().__init__(min_batch_size=size if not bucketing else 1, max_batch_size=size,
                         large_model=large_model)
        self.translator_kwargs = dict(translator_kwargs, sort=bucketing)
        self.decoding = decoding

    def load_model(self) -> Translator:
        return Translator(**self.translator_kwargs).load()

    def run_inference(self, batch, model, inference_args=None):
        texts = [text for text, _ in batch]
        keys = [key for _, key in batch]
        try:
            return model.translate(texts, keys, self.decoding)
        except Exception:  # one bad input must not fail its batch: retry one by one
            out = []
            for text, key in zip(texts, keys):
                try:
                    out.append(model.translate([text], [key], self.decoding)[0])
                except Exception as e:
                    out.append({"error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"})
            return out

    def get_metrics_namespace(self) -> str:
        return "xlaug_seq2seq"


def _request_tokens(element) -> int:
    # element: (key, (text, seed_key)); key[4] is the token count.
    return element[0][4]


class _Prepare(beam.DoFn):
    """Checks text and length, splits long inputs; emits keyed requests
    ``((record, chunk, n_chunks, join_id, n_tokens), (text, seed_key))``."""

    def __init__(self, translator_kwargs, side, long_input, reason_prefix):
        self.translator_kwargs = translator_kwargs
        self.side, self.long_input, self.prefix = side, long_input, reason_prefix

    def setup(self):
        self.translator = Translator(**self.translator_kwargs).load_tokenizer()
        self.limit = self.translator.max_input_tokens

    def _reject(self, record, reason, detail):
        return beam.pvalue.TaggedOutput(REJECTED, Rejected.of(record, STAGE, self.prefix + reason, detail))

    def process(self, record: Record):
        text = record.text(self.side)
        if text is None or not text.strip():
            yield self._reject(record, "empty_text", f"no {self.side} text to translate")
            return
        n_tokens = self.translator.count_tokens([text])[0]
        if n_tokens <= self.limit:
            yield (record, 0, 1, "", n_tokens), (text, record.id)
            return
        if self.long_input == "reject":
            yield self._reject(record, "too_long", f"{n_tokens} tokens > model limit {self.limit}")
            return
        chunks = self._pack(split_sentences(text))
        if chunks is None:
            yield self._reject(record, "too_long",
                               f"{n_tokens} tokens > model limit {self.limit} and a single sentence "
                               f"is over the limit (never truncated)")
            return
        join_id = uuid.uuid4().hex  # only pairs chunks back up; never reaches the output
        for i, (chunk, count) in enumerate(chunks):
            yield (record, i, len(chunks), join_id, count), (chunk, f"{record.id}#{i}")

    def _pack(self, sentences):
        """Greedily pack sentences into chunks within the limit; None if one sentence is too long."""
        chunks, current = [], None
        for sentence in sentences:
            candidate = sentence if current is None else current + " " + sentence
            count = self.translator.count_tokens([candidate])[0]
            if count <= self.limit:
                current = candidate
                continue
            if current is None:
                return None
            chunks.append(current)
            if self.translator.count_tokens([sentence])[0] > self.limit:
                return None
            current = sentence
        if current is not None:
            chunks.append(current)
        return [(c, self.translator.count_tokens([c])[0]) for c in chunks]


class _Assemble(beam.DoFn):
    def __init__(self, reason_prefix):
        self.prefix = reason_prefix

    def process(self, element):
        (record, chunk, n_chunks, join_id, _), pred = element
        if n_chunks == 1:
            if isinstance(pred, dict):
                yield beam.pvalue.TaggedOutput(
                    REJECTED, Rejected.of(record, STAGE, self.prefix + "generation_error", pred["error"]))
            else:
                yield record, pred, 1
        else:
            yield beam.pvalue.TaggedOutput(_CHUNKS, (join_id, (chunk, record, pred)))


class _Rejoin(beam.DoFn):
    """Chunks of one split input -> one result: hypothesis k = chunk hypotheses k
    joined by a space, score = mean of the chunk scores."""

    def __init__(self, reason_prefix):
        self.prefix = reason_prefix

    def process(self, element):
        _, parts = element
        parts = sorted(parts, key=lambda p: p[0])
        record = parts[0][1]
        errors = [p[2]["error"] for p in parts if isinstance(p[2], dict)]
        if errors:
            yield beam.pvalue.TaggedOutput(
                REJECTED, Rejected.of(record, STAGE, self.prefix + "generation_error", errors[0]))
            return
        n = min(len(p[2]) for p in parts)
        hyps = []
        for k in range(n):
            texts = [p[2][k][0] for p in parts]
            scores = [p[2][k][1] for p in parts]
            hyps.append((" ".join(t for t in texts if t), sum(scores) / len(scores)))
        yield record, hyps, len(parts)


class TranslateText(beam.PTransform):
    """Records -> ``(record, [(hypothesis, score), ...], n_chunks)`` for the text of
    ``side``; rejections in a second output.  Returns ``StageOutput``."""

    def __init__(self, translator_kwargs: dict, decoding: Decoding, *, side: str = "src",
                 long_input: str = "split", bucketing: bool = True, large_model: bool = False,
                 reason_prefix: str = "", label: str | None = None):
        super().__init__(label=label)
        if long_input not in LONG_INPUT:
            raise ValueError(f"long_input must be one of {', '.join(LONG_INPUT)}")
        self.translator_kwargs, self.decoding = dict(translator_kwargs), decoding
        self.side, self.long_input, self.bucketing = side, long_input, bucketing
        self.large_model, self.prefix = large_model, reason_prefix

    def expand(self, records):
        prepared = records | "Prepare" >> beam.ParDo(
            _Prepare(self.translator_kwargs, self.side, self.long_input, self.prefix)
        ).with_outputs(REJECTED, main="requests")
        handler = KeyedModelHandler(Seq2SeqHandler(self.translator_kwargs, self.decoding,
                                                   bucketing=self.bucketing, large_model=self.large_model))
        requests = prepared.requests
        if self.bucketing:
            size = int(self.translator_kwargs.get("max_batch_size", 64))
            budget = int(self.translator_kwargs.get("batch_tokens", 4096))
            requests = requests | "SortAndBatch" >> beam.SortAndBatchElements(
                min_batch_size=1, max_batch_size=size, max_batch_weight=budget,
                element_size_fn=_request_tokens)
            handler = handler.with_no_batching()
        results = (requests | "Generate" >> RunInference(handler)
                   | "Assemble" >> beam.ParDo(_Assemble(self.prefix)).with_outputs(
                       REJECTED, _CHUNKS, main="done"))
        rejoined = (results[_CHUNKS] | "GroupChunks" >> beam.GroupByKey()
                    | "Rejoin" >> beam.ParDo(_Rejoin(self.prefix)).with_outputs(REJECTED, main="done"))
        done = (results.done, rejoined.done) | "Done" >> beam.Flatten()
        rejected = ((prepared[REJECTED], results[REJECTED], rejoined[REJECTED])
                    | "Rejected" >> beam.Flatten())
        return StageOutput(done, rejected)


class _ToRecords(beam.DoFn):
    """One output record per hypothesis, with rank, score and provenance."""

    def __init__(self, model, src_lang, tgt_lang, decoding):
        self.model, self.src_lang, self.tgt_lang, self.decoding = model, src_lang, tgt_lang, decoding

    def process(self, element):
        record, hyps, n_chunks = element
        src_lang = record.src_lang or self.src_lang
        tgt_lang = self.tgt_lang or record.tgt_lang
        params = dict(self.decoding.params(), direction=f"{src_lang}->{tgt_lang}")
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
                yield beam.pvalue.TaggedOutput(REJECTED, Rejected.of(
                    empty, STAGE, "empty_translation", f"hypothesis {rank} is empty"))
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


class _RoundTripScores(beam.DoFn):
    def __init__(self, model, direction):
        self.model, self.direction = model, direction

    def setup(self):
        import sacrebleu
        self.sacrebleu = sacrebleu

    def process(self, element):
        record, hyps, _ = element
        back = hyps[0][0]
        original = record.text("src")
        bleu = self.sacrebleu.sentence_bleu(back, [original]).score
        chrf = self.sacrebleu.sentence_chrf(back, [original]).score
        yield record.with_scores(rt_bleu=bleu, rt_chrf=chrf).with_origin(
            "round_trip", model=self.model, direction=self.direction, back_text=back)


class BackTranslate(beam.PTransform):
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
                 max_input_tokens: int | None = None, large_model: bool = False):
        super().__init__(label=STAGE)
        self.model, self.src_lang, self.tgt_lang = model, src_lang, tgt_lang
        self.decoding = decoding or Decoding()
        self.round_trip_model, self.long_input = round_trip_model, long_input
        self.bucketing, self.large_model = bucketing, large_model
        common = dict(family=family, device=device, dtype=dtype, threads=threads,
                      batch_tokens=batch_tokens, max_batch_size=max_batch_size,
                      max_input_tokens=max_input_tokens)
        self.forward_kwargs = dict(common, model=model, src_lang=src_code or src_lang,
                                   tgt_lang=tgt_code or tgt_lang, prefix=prefix)
        self.back_kwargs = dict(common, model=round_trip_model, src_lang=tgt_code or tgt_lang,
                                tgt_lang=src_code or src_lang, prefix=rt_prefix)
        self.score_ranges = {"bt_score": (-10.0, 0.0), "bt_rank": (1, max(2, self.decoding.n))}
        if round_trip_model:
            self.score_ranges.update(rt_bleu=(0.0, 100.0), rt_chrf=(0.0, 100.0))

    def expand(self, records):
        if self.src_lang:
            checked = records | "CheckLang" >> beam.ParDo(_CheckLang(self.src_lang)).with_outputs(
                REJECTED, main="ok")
            records, wrong = checked.ok, checked[REJECTED]
        else:
            wrong = None
        fwd = records | "Forward" >> TranslateText(
            self.forward_kwargs, self.decoding, side="src", long_input=self.long_input,
            bucketing=self.bucketing, large_model=self.large_model)
        out = fwd.kept | "ToRecords" >> beam.ParDo(
            _ToRecords(self.model, self.src_lang, self.tgt_lang, self.decoding)).with_outputs(REJECTED, main="kept")
        rejected = [fwd.rejected, out[REJECTED]] + ([wrong] if wrong is not None else [])
        kept = out.kept
        if self.round_trip_model:
            rt_decoding = Decoding(mode="greedy" if self.decoding.mode != "beam" else "beam",
                                   num_beams=self.decoding.num_beams, n=1,
                                   max_new_tokens=self.decoding.max_new_tokens)
            back = kept | "RoundTrip" >> TranslateText(
                self.back_kwargs, rt_decoding, side="tgt", long_input=self.long_input,
                bucketing=self.bucketing, large_model=self.large_model, reason_prefix="round_trip_")
            kept = back.kept | "RoundTripScores" >> beam.ParDo(_RoundTripScores(
                self.round_trip_model, f"{self.tgt_lang}->{self.src_lang}"))
            rejected.append(back.rejected)
        return StageOutput(kept, tuple(rejected) | "AllRejected" >> beam.Flatten())


class _CheckLang(beam.DoFn):
    """A record in another source language than the model's is refused, not mistranslated."""

    def __init__(self, src_lang):
        self.src_lang = src_lang

    def process(self, record: Record):
        if record.src_lang and record.src_lang != self.src_lang:
            yield beam.pvalue.TaggedOutput(REJECTED, Rejected.of(
                record, STAGE, "wrong_language",
                f"record src_lang {record.src_lang!r}, stage translates from {self.src_lang!r}"))
        else:
            yield record
