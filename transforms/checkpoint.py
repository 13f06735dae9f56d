"""The finished part of a run, kept so that ``--resume`` need not redo it.

A checkpoint folder holds what the first stages made of some input files:
the records they kept, the records they rejected (with stage and reason)
and their identity-check tallies (transforms/ledger.py).  Values are
pickled, so records come back exactly as they were (scores bit for bit);
each is one base64 line of a sharded text file, written and read by Beam
on any filesystem it reaches.
"""
from __future__ import annotations

import base64
import pickle
import zlib
from typing import Iterable

import apache_beam as beam

PARTS = ("kept", "rejected", "tallies")


def encode(value) -> str:
    return base64.b64encode(zlib.compress(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), 1)).decode("ascii")


def decode(line: str):
    return pickle.loads(zlib.decompress(base64.b64decode(line)))


class WriteCheckpoint(beam.PTransform):
    """(kept records, rejected, one tallies dict) -> files under ``folder``."""

    def __init__(self, folder: str):
        super().__init__(label="checkpoint")
        self.folder = folder.rstrip("/")

    def expand(self, pcolls):
        from apache_beam.io import WriteToText
        done = []
        for name, pcoll in zip(PARTS, pcolls):
            done.append(pcoll | f"Encode {name}" >> beam.Map(encode)
                        | f"Write {name}" >> WriteToText(f"{self.folder}/{name}", file_name_suffix=".b64",
                                                         num_shards=1 if name == "tallies" else 0))
        return done


class ReadCheckpoints(beam.PTransform):
    """Checkpoint folders -> (kept records, rejected, tallies dicts)."""

    def __init__(self, folders: Iterable[str]):
        super().__init__(label="checkpoints")
        self.folders = [f.rstrip("/") for f in folders]

    def expand(self, pbegin):
        from apache_beam.io.textio import ReadAllFromText
        out = []
        for name in PARTS:
            patterns = [f"{f}/{name}*.b64" for f in self.folders]
            out.append(pbegin | f"{name} files" >> beam.Create(patterns)
                       | f"Read {name}" >> ReadAllFromText()
                       | f"Decode {name}" >> beam.Map(decode))
        return tuple(out)
