"""Files anywhere Beam can reach: local paths, gs://, s3://, ... through
``apache_beam.io.filesystems.FileSystems``.

Everything xlaug reads or writes (inputs, configs, lexicons, report, card,
pictures) goes through here, so a remote path behaves like a local one.
Compressed inputs (.gz, .bz2, .zst, .xz, .deflate) are decompressed by
extension.  Problems come back as one-line ``StorageError`` naming the path:
a glob that matches nothing, a missing bucket, missing credentials.
"""
from __future__ import annotations

import os
from typing import Iterable

from xlaug.transforms.errors import UsageError

GLOB_CHARS = "*?["
COMPRESSED = (".gz", ".bz2", ".zst", ".xz", ".lzma", ".deflate")


class StorageError(UsageError):
    """A path that cannot be used: one line naming it."""


def is_remote(path: str) -> bool:
    return "://" in path


def is_glob(path: str) -> bool:
    return any(c in path for c in GLOB_CHARS)


def is_compressed(path: str) -> bool:
    return path.lower().endswith(COMPRESSED)


def plain_name(path: str) -> str:
    """The name without a compression extension: ``pairs.tsv.gz`` -> ``pairs.tsv``."""
    lower = path.lower()
    for ext in COMPRESSED:
        if lower.endswith(ext):
            return path[: -len(ext)]
    return path


def _fs():
    from apache_beam.io.filesystems import FileSystems
    return FileSystems


def _why(path: str, e: BaseException) -> str:
    """A one-line reason for a FileSystems failure on ``path``."""
    text = f"{type(e).__name__}: {e}"
    low = text.lower()
    if "no filesystem found" in low or "no module named" in low:
        scheme = path.split("://", 1)[0]
        return (f"{path}: cannot reach {scheme}:// storage (install the Beam extra for it, "
                f"e.g. pip install 'xlaug[gcp]')")
    if "credential" in low or "default credentials" in low or "unauthorized" in low or " 401" in low:
        return f"{path}: no credentials for this storage (gcloud auth application-default login, " \
               "or GOOGLE_APPLICATION_CREDENTIALS)"
    if "403" in low or "forbidden" in low or "permission" in low:
        return f"{path}: access denied"
    if "bucket" in low and ("not found" in low or "not exist" in low or "404" in low):
        return f"{path}: the bucket does not exist"
    first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return f"{path}: {first[:300]}"


def check_bucket(path: str) -> None:
    """gs:// listings of a missing bucket come back empty: ask for the bucket itself."""
    if not path.startswith("gs://"):
        return
    bucket = path[len("gs://"):].split("/", 1)[0]
    try:
        from apache_beam.io.gcp.gcsio import GcsIO
        if GcsIO().client.lookup_bucket(bucket) is None:
            raise StorageError(f"{path}: the bucket gs://{bucket} does not exist")
    except StorageError:
        raise
    except Exception as e:  # noqa: BLE001 - any client failure is reported on one line
        raise StorageError(_why(path, e)) from None


def match(pattern: str) -> list[str]:
    """Files matching ``pattern`` (a path or a glob), sorted; StorageError when none."""
    if not is_remote(pattern):
        import glob
        if not is_glob(pattern):
            if os.path.isfile(pattern):
                return [pattern]
            if os.path.isdir(pattern):
                return [pattern]
            raise StorageError(f"{pattern}: no such file or directory")
        found = sorted(p for p in glob.glob(os.path.expanduser(pattern), recursive=True) if os.path.isfile(p))
        if not found:
            raise StorageError(f"{pattern}: no file matches this pattern")
        return found
    check_bucket(pattern)
    try:
        result = _fs().match([pattern])[0]
        found = sorted(m.path for m in result.metadata_list)
    except Exception as e:  # noqa: BLE001
        raise StorageError(_why(pattern, e)) from None
    if not found:
        if is_glob(pattern):
            raise StorageError(f"{pattern}: no file matches this pattern")
        raise StorageError(f"{pattern}: no such file")
    if not is_glob(pattern) and pattern.rstrip("/") not in found:
        raise StorageError(f"{pattern}: no such file")
    return found


def expand(patterns: Iterable[str]) -> list[str]:
    """Every file the patterns name, in order given, each once."""
    out: list[str] = []
    for p in patterns:
        for f in match(p):
            if f not in out:
                out.append(f)
    return out


def exists(path: str) -> bool:
    if not is_remote(path):
        return os.path.exists(path)
    try:
        return _fs().exists(path)
    except Exception as e:  # noqa: BLE001
        raise StorageError(_why(path, e)) from None


def size(path: str) -> int:
    """Bytes in a file (local or remote), for splitting it between workers."""
    if not is_remote(path):
        return os.path.getsize(path)
    try:
        found = _fs().match([path])[0].metadata_list
    except Exception as e:  # noqa: BLE001
        raise StorageError(_why(path, e)) from None
    if not found:
        raise StorageError(f"{path}: no such file")
    return found[0].size_in_bytes


def open_read(path: str):
    """A binary file object, decompressed by extension."""
    if not is_remote(path) and not is_compressed(path):
        return open(path, "rb")
    from apache_beam.io.filesystem import CompressionTypes
    try:
        return _Lines(_fs().open(path, compression_type=CompressionTypes.AUTO))
    except FileNotFoundError:
        raise StorageError(f"{path}: no such file") from None
    except Exception as e:  # noqa: BLE001
        if isinstance(e, ImportError) or "zstandard" in str(e):
            raise StorageError(f"{path}: reading .zst needs the zstandard package (pip install zstandard)") from None
        raise StorageError(_why(path, e)) from None


class _Lines:
    """Beam's decompressing file reads and reads lines, but is not iterable."""

    def __init__(self, f):
        self._f = f

    def read(self, n: int = -1) -> bytes:
        return self._f.read() if n is None or n < 0 else self._f.read(n)

    def readline(self) -> bytes:
        return self._f.readline()

    def seek(self, offset: int) -> None:
        self._f.seek(offset)  # uncompressed files only: splits of one large file

    def __iter__(self):
        return iter(self._f.readline, b"")

    def close(self) -> None:
        self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_text(path: str) -> str:
    """A whole UTF-8 file (configs, lexicons, word lists)."""
    with open_read(path) as f:
        return f.read().decode("utf-8")


def write_bytes(path: str, data: bytes) -> None:
    if not is_remote(path):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        return
    from apache_beam.io.filesystem import CompressionTypes
    with _fs().create(path, mime_type="application/octet-stream",
                      compression_type=CompressionTypes.UNCOMPRESSED) as f:
        f.write(data)


def write_text(path: str, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def join(base: str, *parts: str) -> str:
    if not is_remote(base):
        return os.path.join(base, *parts)
    return "/".join([base.rstrip("/"), *parts])


def basename(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1] if is_remote(path) else os.path.basename(path)


def listing(folder: str) -> list[str]:
    """Files below ``folder`` (remote: by prefix), for emptiness checks and clean-up."""
    try:
        result = _fs().match([folder.rstrip("/") + "/**"])[0]
        return [m.path for m in result.metadata_list]
    except Exception as e:  # noqa: BLE001
        raise StorageError(_why(folder, e)) from None


def delete(paths: list[str]) -> None:
    if paths:
        _fs().delete(paths)
