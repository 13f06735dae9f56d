"""Word alignment from a multilingual encoder's subword embeddings, batched.

``WordAligner`` embeds many sentences per forward pass (length-sorted,
padded with attention masks), then extracts links for many pairs at once
(``xlaug.transforms.align_methods``).  Links are computed between subwords and
mapped to words as SimAlign does with ``token_type="bpe"``: words ``(i, j)``
are linked when any of their subwords are.  On the same model, layer and
method the links equal ``simalign.SentenceAligner``'s.

``AlignStep`` is the pipeline stage (a ModelStep: the aligner is loaded once
per worker process).  With ``layer="auto"`` its summary is a sample of the
whole input chosen by seeded hash of the record ids, and the layer is chosen
once on it, so every runner and the plain driver pick the same layer.

torch and transformers are imported when a model is loaded, not here.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterable, Sequence

from xlaug.transforms.align_defaults import DEFAULT_LAYER, DEFAULT_METHOD, LONG_INPUT_POLICIES, METHODS
from xlaug.transforms.record import Record, Rejected
from xlaug.transforms.seeding import seeded_hash
from xlaug.transforms.stage import ModelStep, SmallestBy

LOG = logging.getLogger(__name__)

AUTO_SAMPLE = 200  # pairs used to choose the layer


def coverage(links: Iterable[tuple[int, int]], n_src: int, n_tgt: int) -> float:
    """Share of the words of both sides with at least one link (links
    outside the sentences are ignored); 0.0 for two empty sides."""
    if n_src + n_tgt == 0:
        return 0.0
    src = {i for i, j in links if 0 <= i < n_src}
    tgt = {j for i, j in links if 0 <= j < n_tgt}
    return (len(src) + len(tgt)) / (n_src + n_tgt)


@dataclass(frozen=True)
class Alignment:
    """Word links of one pair: 0-based (src_word, tgt_word), sorted; one
    similarity ((cos+1)/2, the best of the subword links behind it) per link."""

    links: tuple[tuple[int, int], ...] = ()
    scores: tuple[float, ...] = ()
    error: str | None = None
    detail: str = ""

    def coverage(self, n_src: int, n_tgt: int) -> float:
        """Share of the words of both sides with at least one link."""
        return coverage(self.links, n_src, n_tgt)


@dataclass
class _Sentence:
    ids: list[int]            # input ids with the model's special tokens
    positions: list[int]      # index in ids of each subword of a word
    words: list[int]          # word index of each of those subwords
    too_long: bool = False


def _model_position_limit(config, tokenizer) -> int:
    """Longest input (in tokens, specials included) the encoder accepts."""
    limit = getattr(config, "max_position_embeddings", None) or 512
    if getattr(config, "model_type", "") in ("roberta", "xlm-roberta", "camembert", "xlm-roberta-xl"):
        limit -= (config.pad_token_id or 0) + 1  # their positions start after padding_idx
    tok_limit = getattr(tokenizer, "model_max_length", None)
    if tok_limit and tok_limit < 1_000_000:
        limit = min(limit, tok_limit)
    return int(limit)


def _layer_stack(model):
    """The ModuleList of transformer layers, for encoders whose hidden state
    after layer L is the plain output of layer L (no final norm after the stack)."""
    for path in (("encoder", "layer"), ("transformer", "layer")):
        obj = model
        for attr in path:
            obj = getattr(obj, attr, None)
        if obj is not None and hasattr(obj, "__len__"):
            return path, obj
    return None, None


def _without_layers_above(model, keep: int):
    """A shallow copy of ``model`` sharing its weights, with only the first
    ``keep`` transformer layers (the model itself is not changed)."""
    import copy

    import torch
    path, stack = _layer_stack(model)
    if stack is None or keep >= len(stack):
        return model
    top = copy.copy(model)
    top._modules = dict(model._modules)
    parent = top
    for attr in path[:-1]:
        child = copy.copy(parent._modules[attr])
        child._modules = dict(child._modules)
        parent._modules[attr] = child
        parent = child
    parent._modules[path[-1]] = torch.nn.ModuleList(list(stack)[:keep])
    return top


class WordAligner:
    """Batched SimAlign-style word aligner over any Hugging Face encoder.

    model:      hub id or local directory (loaded with AutoModel/AutoTokenizer).
    layer:      hidden state index (0 = embeddings) or "auto" (choose_layer on the
                first pairs given to align()).
    method:     argmax | itermax | match | softmax.
    device:     "auto" (cuda when present), "cpu", "cuda", ...
    batch_size: sentences per forward pass.
    threads:    torch CPU threads of this process, when given (set once per process).
    long_input: "reject" (Alignment.error="too_long") or "window" (embed
                overlapping windows of the encoder's length).
    quantize:   None or "int8" (dynamic quantization of Linear layers, CPU).
    method_options: distortion (0.0), softmax_threshold (1e-3), softmax_temperature
                (None: raw dot products as awesome-align; T: cosine / T),
                itermax_count (2), itermax_alpha (0.9), auto_layers (candidates),
                min_link_sim (0.0: drop word links whose similarity is below it).
    """

    def __init__(self, model: str, *, layer: int | str = DEFAULT_LAYER, method: str = DEFAULT_METHOD,
                 device: str = "auto", batch_size: int = 32, threads: int | None = None,
                 long_input: str = "reject", quantize: str | None = None, **method_options):
        if method not in METHODS:
            raise ValueError(f"unknown alignment method {method!r}; choose one of {', '.join(METHODS)}")
        if long_input not in LONG_INPUT_POLICIES:
            raise ValueError(f"long_input must be one of {', '.join(LONG_INPUT_POLICIES)}, not {long_input!r}")
        if layer != "auto" and (not isinstance(layer, int) or layer < 0):
            raise ValueError(f"layer must be a non-negative int or 'auto', not {layer!r}")
        known = {"distortion", "softmax_threshold", "softmax_temperature", "itermax_count",
                 "itermax_alpha", "auto_layers", "min_link_sim"}
        unknown = set(method_options) - known
        if unknown:
            raise ValueError(f"unknown aligner option(s): {', '.join(sorted(unknown))}")
        import torch
        from transformers import AutoModel, AutoTokenizer

        from xlaug.transforms.quiet import load_pretrained
        from xlaug.transforms.worker import resolve_device, set_torch_threads
        set_torch_threads(threads)
        self.model_name = model
        self.method = method
        self.batch_size = max(1, int(batch_size))
        self.long_input = long_input
        self.auto_layers = method_options.pop("auto_layers", None)
        # Null alignment: a word whose best link is weaker than this stays unaligned.
        self.min_link_sim = float(method_options.pop("min_link_sim", 0.0) or 0.0)
        self.options = method_options
        self.device = resolve_device(device)
        self.tokenizer = AutoTokenizer.from_pretrained(model)
        # Alignment reads hidden states only: a checkpoint without the pooler is complete.
        self.model = load_pretrained(AutoModel, model, unread=("pooler.",)).eval()
        self.n_layers = int(getattr(self.model.config, "num_hidden_layers", 0) or 0)
        self.max_len = _model_position_limit(self.model.config, self.tokenizer)
        if layer != "auto" and self.n_layers and layer > self.n_layers:
            raise ValueError(f"layer {layer} does not exist: {model} has {self.n_layers} layers")
        self.layer = layer
        # Alignment never needs the layers above the one it reads: drop them.
        if layer != "auto":
            self._truncate(layer)
        if quantize == "int8":
            self.model = torch.ao.quantization.quantize_dynamic(self.model, {torch.nn.Linear}, dtype=torch.qint8)
        elif quantize:
            raise ValueError(f"quantize must be None or 'int8', not {quantize!r}")
        self.model.to(self.device)
        self.quantize = quantize

    def set_layer(self, layer: int) -> None:
        """Read hidden state ``layer`` from now on (drops the layers above it)."""
        if self.n_layers and not 0 <= layer <= self.n_layers:
            raise ValueError(f"layer {layer} does not exist: {self.model_name} has {self.n_layers} layers")
        self.layer = layer
        self._truncate(layer)

    def at_layer(self, layer: int) -> "WordAligner":
        """An aligner reading hidden state ``layer`` that shares this one's
        weights (the layers above it left out); this aligner is unchanged, so
        it can still choose a layer or serve another one (a model shared by
        the stages and threads of a worker process is never modified)."""
        if layer == self.layer:
            return self
        if self.n_layers and not 0 <= layer <= self.n_layers:
            raise ValueError(f"layer {layer} does not exist: {self.model_name} has {self.n_layers} layers")
        views = self.__dict__.setdefault("_views", {})
        view = views.get(layer)
        if view is None:
            import copy
            view = copy.copy(self)
            view._views = {}
            view.model = _without_layers_above(self.model, layer)
            view.layer = layer
            views[layer] = view
        return view

    # -- embedding -------------------------------------------------------
    def _truncate(self, keep: int) -> None:
        path, stack = _layer_stack(self.model)
        if stack is not None and keep > len(stack):
            raise ValueError(f"layer {keep} was dropped when this aligner was set to layer "
                             f"{len(stack)}; load a new WordAligner")
        if stack is not None and keep < len(stack):
            import torch
            parent = self.model
            for attr in path[:-1]:
                parent = getattr(parent, attr)
            setattr(parent, path[-1], torch.nn.ModuleList(list(stack)[:keep]))

    def _tokenize(self, sentences: Sequence[Sequence[str]]) -> list[_Sentence]:
        enc = self.tokenizer([list(s) for s in sentences], is_split_into_words=True,
                             add_special_tokens=True, truncation=False,
                             verbose=False)  # long input is handled by self.long_input
        out = []
        for k in range(len(sentences)):
            ids = enc["input_ids"][k]
            word_ids = enc.word_ids(k)
            positions = [p for p, w in enumerate(word_ids) if w is not None]
            out.append(_Sentence(ids, positions, [word_ids[p] for p in positions],
                                 too_long=len(ids) > self.max_len))
        return out

    def _forward(self, batch_ids: list[list[int]], layers: Sequence[int]):
        """Hidden states of ``layers`` for a batch of id lists: ``{layer: [B, T, H]}``."""
        import torch
        T = max(len(ids) for ids in batch_ids)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        input_ids = torch.full((len(batch_ids), T), pad, dtype=torch.long)
        attn = torch.zeros((len(batch_ids), T), dtype=torch.long)
        for b, ids in enumerate(batch_ids):
            input_ids[b, :len(ids)] = torch.as_tensor(ids)
            attn[b, :len(ids)] = 1
        out = self.model(input_ids=input_ids.to(self.device), attention_mask=attn.to(self.device),
                         output_hidden_states=True)
        return {layer: out.hidden_states[layer] for layer in layers}

    def _embed(self, sents: list[_Sentence], layers: Sequence[int]) -> list[dict]:
        """Subword vectors of each sentence: ``[{layer: [n_sub, H]}]`` (None when too long
        under the reject policy).  Sentences are length-sorted into batches."""
        import torch
        result: list[dict | None] = [None] * len(sents)
        todo = [k for k, s in enumerate(sents) if not s.too_long]
        todo.sort(key=lambda k: len(sents[k].ids))
        with torch.inference_mode():
            for start in range(0, len(todo), self.batch_size):
                chunk = todo[start:start + self.batch_size]
                hidden = self._forward([sents[k].ids for k in chunk], layers)
                for b, k in enumerate(chunk):
                    pos = torch.as_tensor(sents[k].positions, device=self.device, dtype=torch.long)
                    result[k] = {layer: h[b].index_select(0, pos) for layer, h in hidden.items()}
            if self.long_input == "window":
                for k, s in enumerate(sents):
                    if s.too_long:
                        result[k] = self._embed_windows(s, layers)
        return result

    def _embed_windows(self, sent: _Sentence, layers: Sequence[int]) -> dict:
        """A long sentence in overlapping windows of the encoder's length; each
        subword takes its vector from the window where it sits most centrally."""
        import torch
        specials_front = sent.positions[0] if sent.positions else 1
        specials_back = len(sent.ids) - 1 - sent.positions[-1] if sent.positions else 1
        body = [sent.ids[p] for p in sent.positions]
        front, back = sent.ids[:specials_front], sent.ids[len(sent.ids) - specials_back:]
        width = self.max_len - len(front) - len(back)
        stride = max(1, width // 2)
        starts = list(range(0, max(1, len(body) - width) + stride, stride))
        starts = sorted({min(s, max(0, len(body) - width)) for s in starts})
        best = [(-1.0, None, 0)] * len(body)  # (centrality, window, offset)
        windows = [front + body[s:s + width] + back for s in starts]
        states = [self._forward([w], layers) for w in windows]
        for wi, s in enumerate(starts):
            n = min(width, len(body) - s)
            for t in range(n):
                centrality = min(t + 1, n - t)
                if centrality > best[s + t][0]:
                    best[s + t] = (centrality, wi, len(front) + t)
        out = {}
        for layer in layers:
            out[layer] = torch.stack([states[wi][layer][0, off] for _, wi, off in best])
        return out

    # -- alignment -------------------------------------------------------
    def align(self, pairs: list[tuple[list[str], list[str]]], *, layer: int | None = None) -> list[Alignment]:
        """Align word-tokenized pairs; one Alignment per pair, in order."""
        if not pairs:
            return []
        if layer is None:
            if self.layer == "auto":
                chosen, per_layer = self.choose_layer(pairs[:AUTO_SAMPLE])
                LOG.info("layer auto: chose layer %d; criterion per layer: %s", chosen,
                         {k: round(v, 4) for k, v in per_layer.items()})
                self.set_layer(chosen)
            layer = self.layer
        _, stack = _layer_stack(self.model)
        if stack is not None and layer > len(stack):
            raise ValueError(f"layer {layer} is not available: this aligner keeps layers up to {len(stack)}")
        sents = self._tokenize([p[0] for p in pairs] + [p[1] for p in pairs])
        vecs = self._embed(sents, [layer])
        n = len(pairs)
        results: list[Alignment | None] = [None] * n
        ready = []
        for k in range(n):
            s, t = sents[k], sents[n + k]
            if vecs[k] is None or vecs[n + k] is None:
                long_side = "source" if vecs[k] is None else "target"
                length = len(s.ids) if vecs[k] is None else len(t.ids)
                results[k] = Alignment(error="too_long", detail=(
                    f"{long_side} has {length} tokens, over the encoder's limit of {self.max_len}"))
            elif not s.positions or not t.positions:
                side = "source" if not s.positions else "target"
                results[k] = Alignment(error="no_subwords", detail=(
                    f"the {side} side has no token the encoder's tokenizer keeps"))
            else:
                ready.append(k)
        # Extraction in chunks of similar size, to keep padding small.
        ready.sort(key=lambda k: (len(sents[k].positions), len(sents[n + k].positions)))
        chunk = max(1, self.batch_size)
        for start in range(0, len(ready), chunk):
            ks = ready[start:start + chunk]
            for k, al in zip(ks, self._extract([(sents[k], sents[n + k]) for k in ks],
                                               [(vecs[k][layer], vecs[n + k][layer]) for k in ks])):
                results[k] = al
        return results  # type: ignore[return-value]

    def _extract(self, sent_pairs, vec_pairs) -> list[Alignment]:
        import torch
        from xlaug.transforms.align_methods import extract

        src = torch.nn.utils.rnn.pad_sequence([v[0] for v in vec_pairs], batch_first=True)
        tgt = torch.nn.utils.rnn.pad_sequence([v[1] for v in vec_pairs], batch_first=True)
        m = torch.as_tensor([len(v[0]) for v in vec_pairs], device=src.device)
        n = torch.as_tensor([len(v[1]) for v in vec_pairs], device=src.device)
        links, sim = extract(self.method, src.float(), tgt.float(), m, n, **self.options)
        b_idx, i_idx, j_idx = (t.tolist() for t in links.nonzero(as_tuple=True))
        link_sims = sim[links].tolist()
        per_pair: list[dict] = [dict() for _ in vec_pairs]
        for b, i, j, v in zip(b_idx, i_idx, j_idx, link_sims):
            key = (sent_pairs[b][0].words[i], sent_pairs[b][1].words[j])
            best = per_pair[b].get(key)
            if best is None or v > best:
                per_pair[b][key] = v
        out = []
        for d in per_pair:
            keys = sorted(key for key, v in d.items() if v >= self.min_link_sim)
            out.append(Alignment(links=tuple(keys), scores=tuple(float(d[key]) for key in keys)))
        return out

    # -- layer choice ----------------------------------------------------
    def candidate_layers(self) -> list[int]:
        if self.auto_layers:
            return [int(x) for x in self.auto_layers]
        top = self.n_layers or DEFAULT_LAYER
        return list(range(max(1, top // 3), top + 1))

    def choose_layer(self, sample_pairs) -> tuple[int, dict]:
        """Pick the layer for ``sample_pairs`` without gold links.

        Criterion per layer: how much sharper the nearest-neighbour match is on
        the true pairs than on mismatched pairs (each source with the next
        pair's target): mean(best - average similarity) on true pairs minus the
        same on mismatched ones.  Returns (layer, {layer: criterion})."""
        import torch
        from xlaug.transforms.align_methods import nn_margin, similarity, valid_mask

        pairs = [p for p in sample_pairs if len(p[0]) and len(p[1])]
        layers = self.candidate_layers()
        fallback = DEFAULT_LAYER if DEFAULT_LAYER in layers else layers[-1]
        if len(pairs) < 2:
            return fallback, {}
        sents = self._tokenize([p[0] for p in pairs] + [p[1] for p in pairs])
        vecs = self._embed(sents, layers)
        n = len(pairs)
        ok = [k for k in range(n) if vecs[k] is not None and vecs[n + k] is not None
              and sents[k].positions and sents[n + k].positions]
        if len(ok) < 2:
            return fallback, {}
        shifted = ok[1:] + ok[:1]
        criterion = {}
        for layer in layers:
            margins = []
            for tgt_keys in (ok, shifted):
                src = torch.nn.utils.rnn.pad_sequence([vecs[k][layer] for k in ok], batch_first=True).float()
                tgt = torch.nn.utils.rnn.pad_sequence([vecs[n + k][layer] for k in tgt_keys],
                                                      batch_first=True).float()
                m = torch.as_tensor([len(vecs[k][layer]) for k in ok], device=src.device)
                nn_ = torch.as_tensor([len(vecs[n + k][layer]) for k in tgt_keys], device=src.device)
                valid = valid_mask(m, nn_, src.shape[1], tgt.shape[1])
                margins.append(float(nn_margin(similarity(src, tgt, valid), valid).mean()))
            criterion[layer] = margins[0] - margins[1]
        best = max(layers, key=lambda layer: (criterion[layer], -layer))
        return best, criterion


# -- the pipeline stage ------------------------------------------------------
def _sample_key(record: Record) -> int:
    return seeded_hash(0, "align_sample", record.id)


class AlignStep(ModelStep):
    """Fill ``alignment``, ``link_scores`` and scores ``align_coverage`` /
    ``align_sim_mean`` from ``record.tokens('src')`` / ``record.tokens('tgt')``.

    Rejects: ``no_tokens`` (a side missing or empty), ``no_subwords`` (the
    tokenizer drops every token of a side, e.g. only control characters),
    ``too_long`` (over the encoder's limit under long_input="reject").

    The model (a ``WordAligner``) is loaded once per worker process.  With
    ``layer="auto"`` the layer is chosen once, on the ``AUTO_SAMPLE`` records
    with the smallest seeded hash of their id (the context of every batch).
    """

    name = "align"
    score_ranges = {"align_coverage": (0.0, 1.0), "align_sim_mean": (0.0, 1.0)}
    thresholds: dict = {}

    def __init__(self, model: str, *, layer: int | str = DEFAULT_LAYER, method: str = DEFAULT_METHOD,
                 device: str = "auto", batch_size: int = 32, threads: int | None = None,
                 long_input: str = "reject", quantize: str | None = None, tokenize: str = "whitespace",
                 segmenter: str = "auto", only_missing: bool = False, sample_size: int = AUTO_SAMPLE,
                 choose_layer=None, **method_options):
        if tokenize not in TOKENIZERS:
            raise ValueError(f"tokenize must be one of {', '.join(TOKENIZERS)}, got {tokenize!r}")
        self.model = model
        # How a side that has text but no tokens is split: 'whitespace' for
        # pre-tokenised corpora, 'words' (punctuation split off) for MT output.
        self.tokenize = tokenize
        self.segmenter = segmenter  # 'words': how zh/ja/th/... runs become words
        self.only_missing = only_missing  # keep links a record already has
        # layer="auto": callable(aligner, [(src, tgt, record)]) -> (layer, {layer: score});
        # None: WordAligner.choose_layer (no labels needed).
        self.choose_layer = choose_layer
        self.kwargs = dict(layer=layer, method=method, device=device, batch_size=batch_size,
                           long_input=long_input, quantize=quantize, **method_options)
        self.threads = threads
        self.batch_size = max(1, int(batch_size))
        if layer == "auto":
            self.summary = SmallestBy(sample_size, _sample_key)

    def model_spec(self) -> dict:
        return {"model": self.model, **self.kwargs}

    def load_model(self) -> "WordAligner":
        return WordAligner(self.model, threads=self.threads, **self.kwargs)

    def make_context(self, sample, model=None) -> int:
        """The layer, chosen on the sample (the records' pairs)."""
        model = model if model is not None else self.shared_model()
        triples = [(list(src), list(tgt), r) for src, tgt, r in
                   ((self._tokens(r, "src"), self._tokens(r, "tgt"), r) for r in sample) if src and tgt]
        if self.choose_layer is not None:
            layer, per_layer = self.choose_layer(model, triples)
        else:
            layer, per_layer = model.choose_layer([(s, t) for s, t, _ in triples])
        pairs = triples
        LOG.info("align: layer auto chose %d on %d pairs; criterion per layer: %s", layer, len(pairs),
                 {k: round(v, 4) for k, v in per_layer.items()})
        return layer

    def process(self, record: Record) -> Iterable[Record | Rejected]:
        return self.process_batch([record])

    def process_batch(self, records: list[Record], context=None, model=None) -> Iterable[Record | Rejected]:
        aligner = model if model is not None else self.shared_model()
        layer = context
        if layer is not None:
            aligner = aligner.at_layer(layer)  # the shared model stays whole
        todo, pairs = [], []
        out: list[Record | Rejected | None] = [None] * len(records)
        for k, record in enumerate(records):
            if self.only_missing and record.alignment:
                out[k] = record
                continue
            src, tgt = self._tokens(record, "src"), self._tokens(record, "tgt")
            if not src or not tgt:
                side = "source" if not src else "target"
                out[k] = Rejected.of(record, self.name, "no_tokens", f"the {side} side has no tokens to align")
            else:
                todo.append(k)
                pairs.append((list(src), list(tgt)))
        alignments = aligner.align(pairs, layer=layer)
        used = layer if layer is not None else aligner.layer
        for k, pair, al in zip(todo, pairs, alignments):
            record = records[k]
            if al.error:
                out[k] = Rejected.of(record, self.name, al.error, al.detail)
                continue
            n_src, n_tgt = len(pair[0]), len(pair[1])
            scores = {"align_coverage": al.coverage(n_src, n_tgt)}
            if al.scores:
                scores["align_sim_mean"] = sum(al.scores) / len(al.scores)
            out[k] = (record.replace(src_tokens=tuple(pair[0]), tgt_tokens=tuple(pair[1]),
                                     alignment=al.links, link_scores=al.scores)
                      .with_scores(**scores)
                      .with_origin(self.name, self.model, layer=used, method=aligner.method))
        yield from out  # type: ignore[misc]

    def _tokens(self, record: Record, side: str):
        toks = getattr(record, f"{side}_tokens")
        if toks is not None:
            return toks
        text = record.text(side)
        if text is None:
            return None
        if self.tokenize == "words":
            return _words(text, self.segmenter)
        toks = TOKENIZERS[self.tokenize](text)
        if self.segmenter != "whitespace":
            # Pre-tokenised text keeps its tokens; a run of an unspaced script
            # (a raw Chinese clause) is still segmented into words.
            from xlaug.transforms.segment import needs_segmentation
            if needs_segmentation(text):
                toks = tuple(w for t in toks for w in (_words(t, self.segmenter)
                                                       if needs_segmentation(t) else (t,)))
        return toks


def _words(text: str, segmenter: str = "auto") -> tuple[str, ...]:
    from xlaug.transforms.segment import segment_words
    return segment_words(text, segmenter)


TOKENIZERS = {"whitespace": lambda text: tuple(text.split()), "words": _words}
