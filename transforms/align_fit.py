"""Self-training of an alignment encoder on the user's own parallel text, no gold.

The objective follows awesome-align's self-training (Dou & Neubig, 2021), in
our own code: for each pair, the model's own confident links are extracted
(both softmaxes of the similarity matrix above a threshold, with no
gradient) and become the targets; the loss raises the softmax probability
of those links in both directions:

    loss = - mean over pairs of ( sum(P_src->tgt * G) / m + sum(P_tgt->src * G) / n )

where P are the row/column softmaxes of the subword similarities at the
aligned layer(s), G the target links and m, n the subword counts.

Translation language modelling (awesome-align's TLM, on by default): the
pair is joined into one input (the tokenizer's pair encoding), 15% of its
subwords are masked (80% mask token, 10% a random subword, 10% kept) and
predicted.  These encoders ship no masked-LM head, so a fresh one is trained
with the encoder: dense + GELU + LayerNorm, then a decoder tied to the
(frozen) word embeddings plus a bias.  It reads the deepest fitted layer, so
no layer above the aligned ones is run or trained; the head is not saved.  The word
embeddings stay frozen (most of a multilingual encoder's weights, and the
links read contextual states); the transformer layers up to the deepest
aligned layer are trained.  The result is saved with ``save_pretrained``
into a new folder, written under a temporary name and renamed into place,
so a folder either holds a whole model or does not exist.

torch and transformers are imported inside functions (CLI help stays fast).
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field

FIT_INFO = "xlaug-fit.json"


@dataclass
class FitConfig:
    layers: tuple = (6, 7)          # hidden states whose links are trained
    epochs: int = 1
    batch_size: int = 8
    lr: float = 2e-5
    threshold: float = 0.1          # softmax threshold of the target links (confident ones)
    temperature: float | None = 0.1  # scores = cosine / T (None: raw dot products, as awesome-align)
    seed: int = 0
    max_steps: int | None = None
    max_subwords: int = 128         # longer sentences are left out of fitting
    threads: int | None = None
    tlm: bool = True                # also translation language modelling (masked subwords of the joined pair)
    tlm_prob: float = 0.15          # share of the joined pair's subwords masked
    tlm_weight: float = 1.0         # TLM loss weight next to the self-training loss


@dataclass
class FitResult:
    out_dir: str
    pairs_used: int
    pairs_skipped: int
    steps: int
    seconds: float
    losses: list = field(default_factory=list)   # mean loss per epoch
    pairs_seen: int = 0                           # pairs trained on (epochs and --max-steps counted)
    step_losses: list = field(default_factory=list)


def _encode(tokenizer, words: list[str], max_subwords: int):
    """(input ids, positions of the real subwords) or None when too long/empty."""
    enc = tokenizer(words, is_split_into_words=True, add_special_tokens=True, truncation=False)
    wid = enc.word_ids()
    pos = [k for k, w in enumerate(wid) if w is not None]
    if not pos or len(enc["input_ids"]) > max_subwords:
        return None
    return enc["input_ids"], pos


def _states(model, batch, pad_id, layers):
    """Per aligned layer: padded subword vectors [B, L, H] and lengths [B]."""
    import torch
    ids = torch.nn.utils.rnn.pad_sequence([torch.as_tensor(x[0]) for x in batch], batch_first=True,
                                          padding_value=pad_id)
    attn = torch.nn.utils.rnn.pad_sequence([torch.ones(len(x[0]), dtype=torch.long) for x in batch],
                                           batch_first=True)
    out = model(input_ids=ids, attention_mask=attn, output_hidden_states=True)
    lengths = torch.as_tensor([len(x[1]) for x in batch])
    result = {}
    for layer in layers:
        h = out.hidden_states[layer]
        result[layer] = torch.nn.utils.rnn.pad_sequence(
            [h[b, torch.as_tensor(x[1])] for b, x in enumerate(batch)], batch_first=True)
    return result, lengths


def _encode_pair(tokenizer, src: list[str], tgt: list[str], max_subwords: int):
    """Input ids of the joined pair (the tokenizer's pair encoding) and the
    mask of its maskable (non-special) positions, or None when too long."""
    enc = tokenizer(src, tgt, is_split_into_words=True, add_special_tokens=True, truncation=False)
    wid = enc.word_ids()
    if len(enc["input_ids"]) > 2 * max_subwords:
        return None
    return enc["input_ids"], [w is not None for w in wid]


class _TLMHead:
    """Masked-subword prediction head over a hidden state, decoder tied to
    the word embeddings (built lazily: torch is imported inside)."""

    def __new__(cls, hidden: int, embeddings, eps: float = 1e-12):
        import torch

        class Head(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.dense = torch.nn.Linear(hidden, hidden)
                self.norm = torch.nn.LayerNorm(hidden, eps=eps)
                self.bias = torch.nn.Parameter(torch.zeros(embeddings.weight.shape[0]))
                self.embeddings = [embeddings]  # not a submodule: its weight is the encoder's

            def forward(self, h):
                x = self.norm(torch.nn.functional.gelu(self.dense(h)))
                return x @ self.embeddings[0].weight.t() + self.bias
        return Head()


def tlm_loss(view, head, batch, pad_id: int, mask_id: int, vocab: int, layer: int, prob: float, gen):
    """Cross-entropy of the masked subwords of joined pairs [(ids, maskable)],
    predicted from hidden state ``layer``; 0 when nothing was masked."""
    import torch
    batch = [x for x in batch if x is not None]
    if not batch:
        return torch.zeros(())
    ids = torch.nn.utils.rnn.pad_sequence([torch.as_tensor(x[0]) for x in batch], batch_first=True,
                                          padding_value=pad_id)
    can = torch.nn.utils.rnn.pad_sequence([torch.as_tensor(x[1]) for x in batch], batch_first=True,
                                           padding_value=False)
    attn = torch.nn.utils.rnn.pad_sequence([torch.ones(len(x[0]), dtype=torch.long) for x in batch],
                                           batch_first=True)
    picked = (torch.rand(ids.shape, generator=gen) < prob) & can
    if not bool(picked.any()):
        return torch.zeros(())
    how = torch.rand(ids.shape, generator=gen)
    inputs = ids.clone()
    inputs[picked & (how < 0.8)] = mask_id
    random_ids = torch.randint(vocab, ids.shape, generator=gen)
    swap = picked & (how >= 0.8) & (how < 0.9)
    inputs[swap] = random_ids[swap]
    out = view(input_ids=inputs, attention_mask=attn, output_hidden_states=True)
    logits = head(out.hidden_states[layer][picked])
    return torch.nn.functional.cross_entropy(logits, ids[picked])


def self_training_loss(src, tgt, m, n, threshold: float, temperature: float | None):
    """The loss of one batch: src [B, M, H], tgt [B, N, H], lengths m, n [B].
    Returns (loss, number of target links)."""
    import torch
    from xlaug.transforms.align_methods import softmax_links, valid_mask
    valid = valid_mask(m, n, src.shape[1], tgt.shape[1])
    if temperature:
        a = torch.nn.functional.normalize(src, dim=-1)
        b = torch.nn.functional.normalize(tgt, dim=-1)
        scores = torch.bmm(a, b.transpose(1, 2)) / temperature
    else:
        scores = torch.bmm(src, tgt.transpose(1, 2))
    with torch.no_grad():
        guide = softmax_links(scores.detach(), valid, threshold).to(scores.dtype)
    masked = scores.masked_fill(~valid, float("-inf"))
    p_fwd = torch.softmax(masked, dim=2).nan_to_num(0.0)
    p_bwd = torch.softmax(masked, dim=1).nan_to_num(0.0)
    per_pair = (p_fwd * guide).sum(dim=(1, 2)) / m.clamp(min=1) + (p_bwd * guide).sum(dim=(1, 2)) / n.clamp(min=1)
    return -per_pair.mean(), int(guide.sum())


def fit(model_dir: str, pairs, out_dir: str, config: FitConfig = FitConfig(), *, force: bool = False,
        log=None) -> FitResult:
    """Self-train the encoder in ``model_dir`` on ``pairs`` [(src_words, tgt_words)]
    and save it to ``out_dir`` (a new folder; ``force`` replaces an old one)."""
    import random

    import torch
    from transformers import AutoModel, AutoTokenizer

    from xlaug.transforms.quiet import load_pretrained

    if os.path.exists(out_dir) and not force:
        raise FileExistsError(f"{out_dir} exists (give force=True / --force to replace it)")
    if config.threads:
        torch.set_num_threads(config.threads)
    random.seed(config.seed)
    torch.manual_seed(config.seed)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    # Quietly, as the aligner loads it: no load report, no pooler warning.
    model = load_pretrained(AutoModel, model_dir, unread=("pooler.",))
    depth = int(getattr(model.config, "num_hidden_layers", 0) or 0)
    layers = sorted({int(x) for x in config.layers})
    if not layers or layers[0] < 1 or (depth and layers[-1] > depth):
        raise ValueError(f"layers must be in 1..{depth or '?'}, got {tuple(config.layers)}")

    data, skipped = [], 0
    for src, tgt in pairs:
        a, b = _encode(tokenizer, list(src), config.max_subwords), _encode(tokenizer, list(tgt), config.max_subwords)
        joined = _encode_pair(tokenizer, list(src), list(tgt), config.max_subwords) if config.tlm else None
        if a is None or b is None:
            skipped += 1
        else:
            data.append((a, b, joined))
    if not data:
        raise ValueError("no pair to fit on (every pair empty or over max_subwords)")

    # Train the layers the links read; freeze the rest (word embeddings included).
    for p in model.parameters():
        p.requires_grad = False
    stack = getattr(getattr(model, "encoder", None), "layer", None)
    trainable = []
    if stack is not None:
        for layer_module in list(stack)[:max(layers)]:
            trainable += list(layer_module.parameters())
    else:  # unknown layout: everything but the embeddings
        trainable = [p for name, p in model.named_parameters() if "embeddings" not in name]
    for p in trainable:
        p.requires_grad = True
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    head = None
    if config.tlm:
        if tokenizer.mask_token_id is None:
            raise ValueError(f"{model_dir}: the tokenizer has no mask token (fit without TLM)")
        emb = model.get_input_embeddings()
        head = _TLMHead(int(model.config.hidden_size), emb, float(getattr(model.config, "layer_norm_eps", 1e-12)))
        trainable = trainable + list(head.parameters())
        tlm_gen = torch.Generator().manual_seed(config.seed)
    opt = torch.optim.AdamW(trainable, lr=config.lr)

    # Forward through the layers up to the deepest fitted one only (a view
    # sharing the weights; the layers above cannot change the loss).
    from xlaug.transforms.align import _without_layers_above
    view = _without_layers_above(model, max(layers))
    order_rng = random.Random(config.seed)
    steps, seen, epoch_losses, step_losses = 0, 0, [], []
    start = time.perf_counter()
    view.train()
    for epoch in range(config.epochs):
        order = list(range(len(data)))
        order_rng.shuffle(order)
        total, count = 0.0, 0
        for s in range(0, len(order), config.batch_size):
            if config.max_steps is not None and steps >= config.max_steps:
                break
            batch = [data[k] for k in order[s:s + config.batch_size]]
            src_states, m = _states(view, [x[0] for x in batch], pad_id, layers)
            tgt_states, n = _states(view, [x[1] for x in batch], pad_id, layers)
            loss = sum(self_training_loss(src_states[layer], tgt_states[layer], m, n, config.threshold,
                                          config.temperature)[0] for layer in layers) / len(layers)
            if head is not None:
                loss = loss + config.tlm_weight * tlm_loss(
                    view, head, [x[2] for x in batch], pad_id, tokenizer.mask_token_id,
                    int(emb.weight.shape[0]), max(layers), config.tlm_prob, tlm_gen)
            opt.zero_grad()
            loss.backward()
            opt.step()
            steps += 1
            seen += len(batch)
            total += float(loss.detach())
            count += 1
            step_losses.append(float(loss.detach()))
            if log and steps % 20 == 0:
                log(f"epoch {epoch + 1} step {steps}: loss {total / count:.4f} "
                    f"({time.perf_counter() - start:.0f}s)")
        epoch_losses.append(total / max(count, 1))
    view.eval()
    model.eval()
    seconds = time.perf_counter() - start
    result = FitResult(out_dir=out_dir, pairs_used=len(data), pairs_skipped=skipped, steps=steps,
                       seconds=seconds, losses=epoch_losses, step_losses=step_losses, pairs_seen=seen)
    _save(model, tokenizer, out_dir, {"base_model": model_dir, "layers": layers, **asdict(config),
                                      "pairs_used": len(data), "pairs_skipped": skipped, "steps": steps,
                                      "epoch_losses": epoch_losses, "seconds": round(seconds, 1)}, force)
    return result


def _save(model, tokenizer, out_dir: str, info: dict, force: bool) -> None:
    """save_pretrained into a temporary sibling folder, then rename it into place."""
    out_dir = os.path.abspath(out_dir)
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{os.path.basename(out_dir)}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        with open(os.path.join(tmp, FIT_INFO), "w", encoding="utf-8") as f:
            json.dump(info, f, indent=1, default=str)
        old = None
        if os.path.exists(out_dir):
            if not force:
                raise FileExistsError(f"{out_dir} exists")
            old = os.path.join(parent, f".{os.path.basename(out_dir)}.old-{os.getpid()}")
            os.replace(out_dir, old)
        os.replace(tmp, out_dir)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
