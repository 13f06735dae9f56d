"""The identity check by ids: per stage, the records that come out (kept or
rejected) must be exactly the records that went in, where a record may be
replaced by new ones that name it as their parent (``record.created_by``).

Every stage gets an invertible Bloom lookup table (IBLT): a few dozen cells,
each holding three sums over the prime field GF(2**521 - 1) of the keys that
hash to it: a count, the key itself encoded as an integer, and a check hash.
An input adds its id with weight +1, an output subtracts it; a record a stage
made from a parent with k siblings subtracts 1/k on the parent's key, so a
parent's children cancel it exactly when all k of them come out.  Sums
commute, so tables built on any worker, bundle by bundle, merge by addition:
no id list, no shuffle.  Being linear, a table is built once per PCollection
and enters each stage it belongs to with its role's sign (a stage's kept
output is the next one's input).  A correct stage's table ends all zero;
otherwise "pure" cells (one key left) are peeled to name the ids that differ
(with 72 cells: all of them in 99% of tables with 20 differing ids, 92% with
40, 44% with 56); when peeling stops early, the check names those it found
and says how many ids at least differ.

Children that say which one they are (``child=i``) also add a term on a
second key of their parent that cancels only when the indices are exactly
0..k-1, so a duplicated child plus a lost one is caught, not just a wrong
number of children.
"""
from __future__ import annotations

import hashlib
import math
from fractions import Fraction
from functools import lru_cache
from typing import Iterable

import apache_beam as beam

from xlaug.transforms.record import Record, created_chain

P = 2 ** 521 - 1            # a Mersenne prime: a key of up to 64 bytes is one field element
PART = 24                   # cells in each of the three parts of a table
CELLS = 3 * PART
SHOW = 20                   # ids named per stage in the report
RECORD, SIBLINGS = 0, 1     # kinds of key: a record id, a parent's set of children
_MAX_KEY = 62               # id bytes kept whole in the encoding


# -- field helpers ---------------------------------------------------------

_inverses: dict[int, int] = {}


def inverse(n: int) -> int:
    """1/n in the field (cached: only the few sibling counts occur)."""
    inv = _inverses.get(n)
    if inv is None:
        inv = _inverses[n] = pow(n, -1, P)
    return inv


_sibling_weights: dict[tuple[int, int], int] = {}


def sibling_weight(child: int, siblings: int) -> int:
    """k * (k+1)**i - ((k+1)**0 + ... + (k+1)**(k-1)) for child i of k: the
    weights of children 0..k-1, each once, sum to 0; those of any other k
    children do not (k numbers below k+1 are the digits of one base-(k+1)
    number), exactly while the sums stay below P (k up to 80).  Small
    integers: no field multiplication per record."""
    w = _sibling_weights.get((child, siblings))
    if w is None:
        base = siblings + 1
        w = _sibling_weights[(child, siblings)] = \
            siblings * base ** child - sum(base ** j for j in range(siblings))
    return w


def signed_fraction(w: int) -> Fraction:
    """The small fraction a/b that equals ``w`` in the field (rational
    reconstruction by the extended Euclidean algorithm)."""
    w %= P
    bound = math.isqrt(P // 2)
    r0, r1, s0, s1 = P, w, 0, 1
    while r1 > bound:
        q = r0 // r1
        r0, r1, s0, s1 = r1, r0 - q * r1, s1, s0 - q * s1
    return Fraction(r1, s1) if s1 else Fraction(0)


# -- keys --------------------------------------------------------------------

def encode_key(kind: int, key: str) -> bytes:
    """Key bytes: kind, a flag, the id in UTF-8 (ids longer than 62 bytes:
    their first 54 bytes and an 8-byte digest of the whole)."""
    raw = key.encode("utf-8")
    if len(raw) <= _MAX_KEY:
        return bytes((1 + kind, 0)) + raw
    return bytes((1 + kind, 1)) + raw[:_MAX_KEY - 8] + hashlib.blake2b(raw, digest_size=8).digest()


def decode_key(data: bytes) -> tuple[int, str] | None:
    if len(data) < 2 or data[0] not in (1 + RECORD, 1 + SIBLINGS) or data[1] not in (0, 1):
        return None
    if data[1]:  # cut at 54 bytes, maybe inside a character
        return data[0] - 1, data[2:-8].decode("utf-8", "ignore") + "…"
    try:
        return data[0] - 1, data[2:].decode("utf-8")
    except UnicodeDecodeError:
        return None


def prepare(data: bytes) -> tuple[int, int, int, int, int, int]:
    """A key as a table entry of weight 1: (weight, value, check value,
    three cell indices)."""
    d = hashlib.blake2b(data, digest_size=16).digest()
    check = int.from_bytes(d, "big")
    return (1, int.from_bytes(data, "big"), check,
            check % PART, PART + (check >> 40) % PART, 2 * PART + (check >> 80) % PART)


@lru_cache(maxsize=4096)
def _parent_entry(kind: int, key: str) -> tuple:
    return prepare(encode_key(kind, key))  # siblings share their parent's (hence the cache)


def weighted(kind: int, key: str, weight: int) -> tuple:
    """The entry of ``key`` times ``weight`` (a small integer or a field element)."""
    _, value, check, a, b, c = _parent_entry(kind, key)
    if -(1 << 64) < weight < 1 << 64:
        return (weight, value * weight, check * weight, a, b, c)
    return (weight, value * weight % P, check * weight % P, a, b, c)


# -- the table ------------------------------------------------------------------

class Table:
    """An IBLT of weighted keys.  ``add`` only adds or subtracts integers
    (weights are folded into the entries); sums are reduced when the table
    is pickled, merged or decoded."""

    __slots__ = ("count", "key", "check")

    def __init__(self):
        self.count = [0] * CELLS
        self.key = [0] * CELLS
        self.check = [0] * CELLS

    def add(self, entry: tuple, sign: int = 1) -> None:
        """Add (sign 1) or subtract (-1) an entry of ``prepare``/``weighted``."""
        weight, value, check, a, b, c = entry
        count, key, chk = self.count, self.key, self.check
        if sign > 0:
            count[a] += weight; count[b] += weight; count[c] += weight  # noqa: E702 (hot path)
            key[a] += value; key[b] += value; key[c] += value  # noqa: E702
            chk[a] += check; chk[b] += check; chk[c] += check  # noqa: E702
        else:
            count[a] -= weight; count[b] -= weight; count[c] -= weight  # noqa: E702
            key[a] -= value; key[b] -= value; key[c] -= value  # noqa: E702
            chk[a] -= check; chk[b] -= check; chk[c] -= check  # noqa: E702

    def merge(self, other: "Table", sign: int = 1) -> "Table":
        """Add (sign 1) or subtract (-1) another table."""
        for mine, theirs in ((self.count, other.count), (self.key, other.key), (self.check, other.check)):
            for i, v in enumerate(theirs):
                mine[i] = (mine[i] + sign * v) % P
        return self

    def compact(self) -> "Table":
        for sums in (self.count, self.key, self.check):
            for i, v in enumerate(sums):
                if v < 0 or v >= P:
                    sums[i] = v % P
        return self

    def net(self) -> int:
        """Sum of all weights (each key has one cell in the first part)."""
        return sum(self.count[:PART]) % P

    def __getstate__(self):
        self.compact()
        return (self.count, self.key, self.check)

    def __setstate__(self, state):
        self.count, self.key, self.check = state

    def decode(self) -> tuple[list[tuple[int, str, int]], int]:
        """Peel the table: ([(kind, key, net weight)], keys known to be left
        undecoded (0: the list is complete)).  Works on a copy."""
        t = Table().merge(self)
        found = []
        queue = list(range(CELLS))
        while queue:
            i = queue.pop()
            w = t.count[i]
            if not w:
                continue
            data = _value_bytes(t.key[i] * inverse(w) % P)
            if data is None:
                continue
            entry = prepare(data)
            if i not in entry[3:] or entry[2] * w % P != t.check[i]:
                continue  # several keys share this cell
            key = decode_key(data)
            if key is None:
                continue
            found.append((key[0], key[1], w))
            t.add((w, entry[1] * w % P, entry[2] * w % P) + entry[3:], -1)
            t.compact()
            queue.extend(entry[3:])
        left = sum(1 for i in range(CELLS) if t.count[i] or t.key[i] or t.check[i])
        # Each key sits in three cells: at least a third as many keys as cells left.
        return found, -(-left // 3)


def _value_bytes(value: int) -> bytes | None:
    n = (value.bit_length() + 7) // 8
    if not 2 <= n <= 2 + _MAX_KEY:
        return None
    return value.to_bytes(n, "big")


# -- what a record adds -----------------------------------------------------------

_one = (1, 1)


def terms(record: Record, stage: str, plain: tuple | None = None) -> tuple[list[tuple], int]:
    """What ``record`` adds to ``stage``'s table when it goes in (subtracted
    when it comes out): [table entries], and the product of the sibling
    counts of its marks (1 for a record the stage did not make).
    ``plain``: the record's own entry, when already computed.

    A record the stage made from parent P with k siblings counts 1/k of P;
    marks left by the same stage in an earlier run nest (1/(k0*k1) of the
    first parent), so such a record that passes through unchanged cancels
    itself, and its own children still add up to it."""
    marks = created_chain(record, stage) if record.origin else None
    if not marks:
        return [plain or prepare(encode_key(RECORD, str(record.id)))], 1
    shares = 1
    for m in marks:
        shares *= m.siblings
    out = [_weighted_parent(marks[0].parent, shares)]
    scale = 1
    for m in reversed(marks):
        if m.child is not None and m.siblings > 1:
            term = sibling_weight(m.child, m.siblings)
            out.append(weighted(SIBLINGS, m.parent, term if scale == 1 else term * scale % P))
        scale = scale * inverse(m.siblings) % P
    return out, shares


@lru_cache(maxsize=4096)
def _weighted_parent(parent: str, shares: int) -> tuple:
    return weighted(RECORD, parent, inverse(shares))


# -- one stage's tally ---------------------------------------------------------------

class Tally:
    """A stage's table and its counts: records in, kept, rejected, and
    shares {product of sibling counts: signed number of records} from which
    the number of records the stage created follows."""

    __slots__ = ("table", "inputs", "kept", "rejected", "shares", "unkeyed")

    def __init__(self):
        self.table = Table()
        self.inputs = self.kept = self.rejected = self.unkeyed = 0
        self.shares: dict[int, int] = {}

    def add(self, entries: list[tuple], shares: int, sign: int) -> None:
        """Count ``terms`` of a record going in (sign +1) or out (-1)."""
        for entry in entries:
            self.table.add(entry, sign)
        if shares != 1:
            self.shares[shares] = self.shares.get(shares, 0) - sign

    def merge(self, other: "Tally") -> "Tally":
        self.table.merge(other.table)
        self.inputs += other.inputs
        self.kept += other.kept
        self.rejected += other.rejected
        self.unkeyed += other.unkeyed
        for d, n in other.shares.items():
            self.shares[d] = self.shares.get(d, 0) + n
        return self

    def __getstate__(self):
        return (self.table, self.inputs, self.kept, self.rejected, self.shares, self.unkeyed)

    def __setstate__(self, state):
        self.table, self.inputs, self.kept, self.rejected, self.shares, self.unkeyed = state

    def created(self) -> Fraction:
        """Records out minus records in, counted by ids: each record a stage
        made from a parent of k children counts 1 - 1/k."""
        return sum((n * (1 - Fraction(1, d)) for d, n in self.shares.items()), Fraction(0))

    def summary(self, stage: str, *, has_input: bool = True, show: int = SHOW) -> dict:
        """The report's view: counts, ``ok``, and the ids that differ."""
        created = self.created()
        out = {"in": self.inputs if has_input else None, "out": self.kept, "rejected": self.rejected,
               "created": int(created) if created.denominator == 1 else float(created)}
        if not has_input:
            out["ok"] = True
            return out
        found, left = self.table.decode()
        out["ok"] = not found and not left and not self.unkeyed
        if out["ok"]:
            return out
        # A parent with children missing also fails the index check: say it once.
        counted = {key for kind, key, _ in found if kind == RECORD}
        problems = sorted((describe(kind, key, w) for kind, key, w in found
                           if kind == RECORD or key not in counted),
                          key=lambda p: (p["problem"], p["id"]))
        out["differ"] = len(problems) + left
        out["problems"] = problems[:show]
        if self.unkeyed:
            out["unkeyed_rejections"] = self.unkeyed
        if left:
            net = signed_fraction(self.table.net())
            out["note"] = (f"{out['differ']} or more ids differ"
                           + (f" (only {len(problems)} could be named)" if problems else " (too many to name them)")
                           + (f"; in all, {net} more records went in than came out" if net > 0 else
                              f"; in all, {-net} more records came out than went in" if net < 0 else ""))
        return out


def describe(kind: int, key: str, weight: int) -> dict:
    """One offending key as the report shows it; ``net`` is how many more
    times the key went in than came out."""
    net = signed_fraction(weight)
    if kind == SIBLINGS:
        return {"id": key, "problem": "children differ",
                "detail": "the stage's records made from this id repeat one child and lack another"}
    if net.denominator != 1:
        share = f"{abs(net)} of its children"
        detail = f"{share} missing" if net > 0 else f"{share} too many"
        return {"id": key, "problem": "child count wrong", "detail": detail}
    n = int(net)
    if n > 0:
        return {"id": key, "problem": "missing",
                "detail": "went in, never came out (neither kept nor rejected)" if n == 1
                else f"went in {n} more times than it came out"}
    return {"id": key, "problem": "duplicated or unexpected",
            "detail": f"came out {-n} more time{'s' if n < -1 else ''} than it went in"}


# -- many stages at once (the Beam side feeds this) ---------------------------------

IN, KEPT, REJECTED = "in", "kept", "rejected"


class Books:
    """Tallies for the elements of one PCollection: ``roles`` says which
    stages they count for and how ([(stage, role)], role in/kept/rejected;
    rejected elements are ``Rejected`` values); ``key`` names the PCollection.

    Tables are linear, so each record's own id goes once into the
    PCollection's table, which later enters every stage it belongs to with
    that role's sign (``settle``); only a record that a stage made (it names
    a parent) adds a correction to that stage's table."""

    def __init__(self, roles: Iterable[tuple[str, str]], key: str | None = None):
        self.roles = tuple((stage, role, 1 if role == IN else -1) for stage, role in roles)
        self.key = ("pcoll", key if key is not None else " ".join(f"{s}:{r}" for s, r in roles))
        self.rejections = self.roles[0][1] == REJECTED

    def empty(self) -> dict:
        out = {stage: Tally() for stage, _, _ in self.roles}
        out[self.key] = Table()
        return out

    def add(self, tallies: dict, element) -> dict:
        record = element.record if self.rejections else element
        for stage, role, _ in self.roles:
            tally = tallies[stage]
            if role == IN:
                tally.inputs += 1
            elif role == KEPT:
                tally.kept += 1
            else:
                tally.rejected += 1
                if record is None:
                    tally.unkeyed += 1
        if record is None:
            return tallies
        plain = prepare(encode_key(RECORD, str(record.id)))
        tallies[self.key].add(plain, 1)
        if record.origin:
            for stage, _, sign in self.roles:
                entries, shares = terms(record, stage, plain)
                if entries[0] is not plain:  # made by this stage: count it for its parent instead
                    tally = tallies[stage]
                    tally.table.add(plain, -sign)
                    tally.add(entries, shares, sign)
        return tallies


def merge_all(parts: Iterable[dict]) -> dict:
    out: dict = {}
    for part in parts:
        for key, value in part.items():
            if key in out:
                out[key].merge(value)
            else:
                out[key] = type(value)().merge(value)
    return out


def settle(tallies: dict, wiring: dict) -> dict:
    """{stage: Tally} with each stage's full table: its corrections plus the
    tables of its PCollections, ``wiring`` {stage: [(PCollection key, sign)]}."""
    out = {}
    for stage, pcolls in wiring.items():
        tally = Tally().merge(tallies.get(stage, Tally()))
        for key, sign in pcolls:
            if ("pcoll", key) in tallies:
                tally.table.merge(tallies[("pcoll", key)], sign)
        out[stage] = tally
    return out


def summaries(tallies: dict, stages: list[tuple[str, bool]], wiring: dict | None = None) -> dict:
    """{stage: summary} in pipeline order; ``stages``: [(name, has an input)]."""
    if wiring is not None:
        tallies = settle(tallies, wiring)
    return {name: tallies.get(name, Tally()).summary(name, has_input=has_input)
            for name, has_input in stages}


# -- Beam ------------------------------------------------------------------------------

def account(stages: list, carried: tuple | None = None) -> beam.PCollection:
    """The identity check of a pipeline: ``stages`` is [(name, input
    PCollection or None, StageOutput)] in order; returns a PCollection of one
    dict {stage: summary} (see ``Tally.summary``).

    Each distinct PCollection is read once (a stage's kept output is also
    the next stage's input) by a DoFn that tallies a bundle and emits the
    tallies when it ends; they are merged by one combine.  Nothing is
    shuffled but a few kilobytes of table per bundle.

    ``carried``: (PCollection of tallies dicts, wiring, order) of stages
    that ran earlier, in other pipelines (``tallies``; a resumed run's
    finished parts): tables add up, so they simply join the merge."""
    parts, wiring, order = _parts(stages)
    if carried is not None:
        pcoll, more_wiring, more_order = carried
        parts = [pcoll] + parts
        wiring = {**{k: [tuple(x) for x in v] for k, v in more_wiring.items()}, **wiring}
        order = [tuple(x) for x in more_order] + order
    return (parts | "Ledger parts" >> beam.Flatten()
            | "Ledger" >> beam.CombineGlobally(_SummaryFn(order, wiring)))


def tallies(stages: list) -> tuple:
    """The raw, mergeable tallies of ``stages`` (as ``account`` takes them):
    (PCollection of one tallies dict, wiring, order)."""
    parts, wiring, order = _parts(stages)
    return (parts | "Ledger parts" >> beam.Flatten()
            | "Ledger" >> beam.CombineGlobally(_MergeFn())), wiring, order


def _parts(stages: list) -> tuple[list, dict, list]:
    by_pcoll: dict[int, tuple] = {}
    for name, inp, out in stages:
        for pcoll, role in ((inp, IN), (out.kept, KEPT), (out.rejected, REJECTED)):
            if pcoll is not None:
                by_pcoll.setdefault(id(pcoll), (pcoll, []))[1].append((name, role))
    parts, wiring = [], {name: [] for name, _, _ in stages}
    for pcoll, roles in by_pcoll.values():
        if len({role == REJECTED for _, role in roles}) > 1:
            raise ValueError(f"one PCollection is both records and rejections: {roles}")
        label = " ".join(f"{name}:{role}" for name, role in roles)
        for name, role in roles:
            wiring[name].append((label, 1 if role == IN else -1))
        parts.append(pcoll | f"Ledger {label}" >> beam.ParDo(_BooksDoFn(roles, label)))
    order = [(name, inp is not None) for name, inp, _ in stages]
    return parts, wiring, order


class _MergeFn(beam.CombineFn):
    def create_accumulator(self):
        return {}

    def add_input(self, acc, tallies):
        return merge_all([acc, tallies])

    def merge_accumulators(self, accumulators):
        return merge_all(accumulators)

    def extract_output(self, acc):
        return acc


class _BooksDoFn(beam.DoFn):
    """Tallies of one bundle, emitted when it ends: cheaper per record than
    a CombineGlobally (no key added, no lifted combine), same result, as the
    tallies merge in any order.  It also counts each stage's records in,
    out and rejected (by reason) as Beam metrics and local progress
    (transforms/progress.py)."""

    def __init__(self, roles, key):
        self.books = Books(roles, key)
        self.names = [(stage, {IN: "in", KEPT: "out", REJECTED: "rejected"}[role]) for stage, role in roles]

    def start_bundle(self):
        self.tallies = self.books.empty()
        self.seen = self.told = 0
        self.reasons: dict = {}

    def process(self, element):
        self.books.add(self.tallies, element)
        self.seen += 1
        if self.books.rejections:
            self.reasons[element.reason] = self.reasons.get(element.reason, 0) + 1
        if self.seen - self.told >= 64:  # progress as records go; metrics once a bundle
            self._tell()

    def _tell(self):
        from xlaug.transforms import progress
        n, self.told = self.seen - self.told, self.seen
        progress.add({key: n for key in self.names})

    def finish_bundle(self):
        from apache_beam.transforms.window import GlobalWindow
        from apache_beam.utils.windowed_value import WindowedValue

        from xlaug.transforms import progress
        self._tell()
        for stage, name in self.names:
            progress.metric(stage, name, self.seen)
            if name == "rejected":
                for reason, n in self.reasons.items():
                    progress.count(stage, f"rejected:{reason}", n)
        progress.flush()
        yield WindowedValue(self.tallies, GlobalWindow().max_timestamp(), (GlobalWindow(),))


class _SummaryFn(_MergeFn):
    def __init__(self, order, wiring):
        self.order, self.wiring = order, wiring

    def extract_output(self, acc):
        return summaries(acc, self.order, self.wiring)
