"""langid.py's model, scored a batch at a time with the same numbers.

Imported by the langid filter only when it sets up (numpy and langid load
then, not at CLI start).
"""
from __future__ import annotations

class _LangidModel:
    """langid.py's naive Bayes model, folded per tokenizer state.

    langid builds a dense 7480-feature count vector per text and multiplies it
    with the feature x language table.  The sum is linear, so each state of
    its byte automaton can carry the summed log-probabilities of the features
    it emits: a text's scores are then the sum of the rows of the states it
    passes through, and a whole batch is one gather plus one segmented sum.
    Same numbers as langid, many times cheaper.
    """

    # Below this many texts still running, stepping them one by one in
    # Python beats one numpy call per byte position (measured: ~1 us per byte
    # in Python against ~15 us per numpy step).
    LOCKSTEP_MIN_ROWS = 16
    # Longer texts are walked alone, so one huge line cannot blow the
    # texts x longest-text matrices up.
    LOCKSTEP_MAX_BYTES = 4096

    def __init__(self):
        import numpy as np
        self.np = np
        arrays = _load_folded()
        self.nextmove = arrays["nextmove"]
        self.table = arrays["table"]
        self.emits = arrays["emits"]  # states that emit any feature
        self.pc = arrays["pc"]
        self.classes = [str(c) for c in arrays["classes"]]
        self.n_states = int(self.table.shape[0])
        import array
        # array.array: fast to index from Python (langid's own is one too)
        self.nextmove_array = array.array("H", self.nextmove.astype(np.uint16).tobytes())
        self._sub: dict = {}
        self.index = {c: i for i, c in enumerate(self.classes)}
        self._ident = None

    @property
    def ident(self):
        """langid's own classifier, for comparison (unpacked on first use)."""
        if self._ident is None:
            from langid.langid import LanguageIdentifier, model
            self._ident = LanguageIdentifier.from_modelstring(model, norm_probs=True)
        return self._ident

    def log_probs_batch(self, texts: list[str], cols=None):
        """(len(texts), n_langs) unnormalised log P(text, lang); only the
        language columns ``cols`` (indices into ``classes``) when given."""
        np = self.np
        n = len(texts)
        table, pc = self._columns(cols)
        out = np.tile(pc, (n, 1))
        encoded = [t.encode("utf-8") for t in texts]
        lengths = np.fromiter((len(e) for e in encoded), dtype=np.int64, count=n)
        rows, seen = [], []
        # Very long texts walk alone: a lock-step matrix is texts x longest.
        for i in np.flatnonzero(lengths > self.LOCKSTEP_MAX_BYTES):
            path = self._walk(encoded[i], 0)
            rows.append(np.full(len(path), i, dtype=np.int64))
            seen.append(np.asarray(path, dtype=np.int64))
        short = np.flatnonzero((lengths <= self.LOCKSTEP_MAX_BYTES) & (lengths > 0))
        if len(short):
            r, st = self._walk_lockstep([encoded[i] for i in short], lengths[short])
            rows.append(short[r])
            seen.append(st)
        if not rows:
            return out
        rows, seen = np.concatenate(rows), np.concatenate(seen)
        emits = self.emits[seen]
        keys, counts = np.unique(rows[emits] * self.n_states + seen[emits], return_counts=True)
        if len(keys) == 0:
            return out
        text_of, state_of = np.divmod(keys, self.n_states)
        contrib = table[state_of] * counts[:, None]
        starts = np.flatnonzero(np.r_[True, text_of[1:] != text_of[:-1]])
        out[text_of[starts]] += np.add.reduceat(contrib, starts, axis=0)
        return out

    def _walk(self, data: bytes, state: int) -> list[int]:
        """The automaton's states over ``data``, one Python step per byte."""
        move = self.nextmove_array
        path = []
        for byte in data:
            state = move[(state << 8) + byte]
            path.append(state)
        return path

    def _walk_lockstep(self, encoded: list[bytes], lengths):
        """(text index, state) for every byte of every text, all texts
        stepped together: one numpy step per byte position instead of one
        Python step per byte."""
        np = self.np
        n = len(encoded)
        # Longest first, so at byte position t the texts still running are a
        # prefix and one long text does not make every row step to its end.
        order = np.argsort(-lengths, kind="stable")
        encoded = [encoded[i] for i in order]
        lengths = lengths[order]
        width = int(lengths[0])
        valid = np.arange(width)[None, :] < lengths[:, None]
        data = np.zeros((n, width), dtype=np.int64)
        data[valid] = np.frombuffer(b"".join(encoded), dtype=np.uint8)  # row-major = joined order
        states = np.zeros((n, width), dtype=np.int64)
        state = np.zeros(n, dtype=np.int64)
        nextmove = self.nextmove
        running = np.searchsorted(-lengths, -np.arange(width), side="left")  # rows with length > t
        t = 0
        while t < width and running[t] >= self.LOCKSTEP_MIN_ROWS:
            k = running[t]
            state[:k] = nextmove[(state[:k] << 8) | data[:k, t]]
            states[:k, t] = state[:k]
            t += 1
        # The few long texts left: stepping them alone is cheaper than a
        # numpy call per byte position.
        for i in range(running[t] if t < width else 0):
            path = self._walk(encoded[i][t:], int(state[i]))
            states[i, t:t + len(path)] = path
        rows = np.broadcast_to(order[:, None], (n, width))[valid]
        return rows, states[valid]

    def log_probs(self, text: str):
        return self.log_probs_batch([text])[0]

    def _columns(self, cols):
        """(table, prior) restricted to some languages; cached, since with a
        handful of candidates the gather moves a tenth of the memory."""
        if cols is None:
            return self.table, self.pc
        key = tuple(int(c) for c in cols)
        hit = self._sub.get(key)
        if hit is None:
            hit = (self.np.ascontiguousarray(self.table[:, key]), self.pc[list(key)])
            self._sub[key] = hit
        return hit


def fold(ident) -> dict:
    """langid's classifier as the arrays ``_LangidModel`` walks."""
    import numpy as np
    nextmove = np.asarray(ident.tk_nextmove, dtype=np.int64)
    ptc = np.asarray(ident.nb_ptc, dtype=np.float64)
    n_states = int(max(nextmove.max(), max(ident.tk_output))) + 1
    table = np.zeros((n_states, ptc.shape[1]), dtype=np.float64)
    for state, feats in ident.tk_output.items():
        if feats:
            table[state] = ptc[list(feats)].sum(axis=0)
    emits = np.zeros(n_states, dtype=bool)
    emits[[s for s, feats in ident.tk_output.items() if feats]] = True
    return {"nextmove": nextmove, "table": table, "emits": emits,
            "pc": np.asarray(ident.nb_pc, dtype=np.float64),
            "classes": np.asarray([str(c) for c in ident.nb_classes])}


def _load_folded() -> dict:
    """The folded arrays, from a cache file keyed by langid's model string
    (``~/.cache/xlaug/langid``, env XLAUG_CACHE): unpacking langid's model
    string takes 1-4 s in every worker process; the file loads in
    milliseconds.  Built, and the cache written, when missing or unreadable."""
    import hashlib
    import os

    import numpy as np
    from langid.langid import LanguageIdentifier, model
    key = hashlib.blake2b(model.encode("ascii") if isinstance(model, str) else model, digest_size=10).hexdigest()
    folder = os.path.join(os.path.expanduser(os.environ.get("XLAUG_CACHE") or "~/.cache/xlaug"), "langid")
    path = os.path.join(folder, f"folded-{key}.npz")
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in ("nextmove", "table", "emits", "pc", "classes")}
    except Exception:  # noqa: BLE001 - missing, or not a whole cache file: build it
        pass
    arrays = fold(LanguageIdentifier.from_modelstring(model, norm_probs=True))
    try:  # written whole, then renamed: processes starting together never read half a file
        os.makedirs(folder, exist_ok=True)
        import threading
        tmp = f"{path}.{os.getpid()}-{threading.get_ident()}.tmp"
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home: built again next time
    return arrays


_SHARED_MODEL: _LangidModel | None = None


def langid_model() -> _LangidModel:
    """The process-wide model: unpacking langid's model string takes seconds,
    so every filter (and DoFn instance) in a worker process shares one."""
    global _SHARED_MODEL
    if _SHARED_MODEL is None:
        _SHARED_MODEL = _LangidModel()
    return _SHARED_MODEL


