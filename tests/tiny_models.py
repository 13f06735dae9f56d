"""Tiny Hugging Face models built on the fly, offline, in well under a second.

Random weights: their outputs are meaningless, so tests assert structure,
counts, order and determinism, never content.  Each builder saves to a
directory and returns its path, so code under test loads it the way a user's
model is loaded: ``from_pretrained(path)``.
"""
from __future__ import annotations

import os
import string

CORPUS = [
    "the cat sat on the mat .", "die Katze sass auf der Matte .",
    "a house in Berlin is big .", "ein Haus in Berlin ist gross .",
    "Angela Merkel visited Paris yesterday .", "Angela Merkel besuchte gestern Paris .",
    "the European Parliament voted today .", "das Europaeische Parlament stimmte heute ab .",
    "we need more data for small languages .", "wir brauchen mehr Daten fuer kleine Sprachen .",
    "le chat est sur le tapis .", "la maison est grande .",
    "this is a test sentence with numbers 1 2 3 .", "noch ein Satz mit Zahlen 4 5 6 .",
    "The Commission and the Council agree .", "Die Kommission und der Rat stimmen zu .",
]

# Language codes in the style of NLLB and M2M100, added as special tokens.
NLLB_CODES = ["eng_Latn", "deu_Latn", "fra_Latn"]
M2M_CODES = ["__en__", "__de__", "__fr__"]


def _seed(seed: int) -> None:
    import torch
    torch.manual_seed(seed)


def build_seq2seq(path: str, *, d_model: int = 32, layers: int = 2, vocab_size: int = 300,
                  lang_codes: list[str] | None = None, max_positions: int = 128, seed: int = 0) -> str:
    """A Marian-type seq2seq model with a BPE tokenizer; ``lang_codes`` adds
    language-code tokens (NLLB/M2M style) to the vocabulary."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import MarianConfig, MarianMTModel, PreTrainedTokenizerFast

    _seed(seed)
    specials = ["</s>", "<unk>"] + list(lang_codes or [])
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.train_from_iterator(CORPUS * 4, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials))
    # <pad> is the last entry, as in real OPUS-MT vocabularies (CTranslate2's
    # Marian converter drops it there: the decoder starts from a zero embedding).
    tok.add_special_tokens(["<pad>"])
    eos = tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A $B </s>", special_tokens=[("</s>", eos)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>",
                                   unk_token="<unk>", model_max_length=max_positions,
                                   additional_special_tokens=list(lang_codes or []))
    pad = fast.pad_token_id
    cfg = MarianConfig(vocab_size=len(fast), d_model=d_model, encoder_layers=layers, decoder_layers=layers,
                       encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=d_model * 2,
                       decoder_ffn_dim=d_model * 2, max_position_embeddings=max_positions,
                       pad_token_id=pad, decoder_start_token_id=pad, eos_token_id=eos,
                       forced_eos_token_id=eos, max_length=max_positions)
    model = MarianMTModel(cfg).eval()
    # As in real OPUS-MT checkpoints: <pad> only starts the decoder, it is never generated.
    model.generation_config.bad_words_ids = [[pad]]
    os.makedirs(path, exist_ok=True)
    model.save_pretrained(path)
    fast.save_pretrained(path)
    return path


def _wordpiece_tokenizer():
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertTokenizerFast

    # A vocabulary written out, not trained: the WordPiece trainer breaks ties
    # differently from run to run, which gave a different model every run.
    # Words of up to 4 characters are whole tokens, longer ones split after
    # their 4th character (so words with several subwords occur), and single
    # characters cover everything else.
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    words = sorted({w for line in CORPUS for w in line.split()})
    chars = sorted({c for w in words for c in w} | set(string.ascii_letters + string.digits + string.punctuation))
    pieces = [w if len(w) <= 4 else w[:4] for w in words] + ["##" + w[4:] for w in words if len(w) > 4]
    vocab = {}
    for piece in specials + chars + ["##" + c for c in chars] + sorted(set(pieces)):
        vocab.setdefault(piece, len(vocab))
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))])
    # do_lower_case=False: transformers 5 would otherwise lowercase on reload.
    return BertTokenizerFast(tokenizer_object=tok, do_lower_case=False, unk_token="[UNK]",
                             pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
                             mask_token="[MASK]", model_max_length=128)


def _bert_config(tokenizer, hidden: int, layers: int, **kw):
    from transformers import BertConfig
    return BertConfig(vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers,
                      num_attention_heads=2, intermediate_size=hidden * 2, max_position_embeddings=128,
                      pad_token_id=tokenizer.pad_token_id, **kw)


def build_encoder(path: str, *, hidden: int = 32, layers: int = 2, seed: int = 0,
                  scramble: tuple[int, ...] = (), pooler: bool = True) -> str:
    """A BERT-type encoder (WordPiece); simalign loads it with ``layer`` <= layers.

    ``scramble``: hidden-state indices (1-based, as ``layer=``) whose layer gets
    large random weights, so its output aligns clearly worse than the others'
    (a layer choice then has a clear winner, not one decided by rounding).
    ``pooler=False`` saves no pooler weights, as sentence-embedding checkpoints
    (e.g. multilingual-e5) do."""
    import torch
    from transformers import BertModel

    _seed(seed)
    tokenizer = _wordpiece_tokenizer()
    model = BertModel(_bert_config(tokenizer, hidden, layers), add_pooling_layer=pooler).eval()
    with torch.no_grad():
        for layer in scramble:
            for param in model.encoder.layer[layer - 1].parameters():
                if param.dim() > 1:
                    param.normal_(0, 1.0)
    os.makedirs(path, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


NER_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]


def build_token_classifier(path: str, *, labels: list[str] = NER_LABELS, hidden: int = 32,
                           layers: int = 2, seed: int = 0) -> str:
    """A BERT token-classification model with a NER label set."""
    from transformers import BertForTokenClassification

    _seed(seed)
    tokenizer = _wordpiece_tokenizer()
    cfg = _bert_config(tokenizer, hidden, layers, num_labels=len(labels),
                       id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)})
    model = BertForTokenClassification(cfg).eval()
    os.makedirs(path, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
