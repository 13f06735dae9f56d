"""``--runner dataflow --dry-run``: Beam's own dry run builds the complete
Dataflow job (graph, pickled stages and model handlers, worker options)
without submitting it.  Offline: inputs, output and staging live in the GCS
emulator (tests/conftest.py), the project id only looks real."""
import pytest

from tests.conftest import GCS_BUCKET as B
from xlaug.pipelines.cli import main
from xlaug.transforms import storage

DATAFLOW = ["--runner", "dataflow", "--dry-run", "--project", "xlaug-test-482113", "--region", "europe-west4",
            "--temp_location", f"gs://{B}/dry/tmp"]
PAIRS = "a small house .\tein kleines Haus .\nthe cat sleeps .\tdie Katze schläft .\n"
CONLL = "Anna\tB-PER\nlives\tO\nin\tO\nParis\tB-LOC\n.\tO\n\nthe\tO\ncat\tO\n"
MONO = "ein kleines Haus .\ndie Katze schläft .\n"


@pytest.fixture(scope="module")
def inputs(gcs):
    gcs(f"gs://{B}/dry/in/pairs.tsv", PAIRS.encode())
    gcs(f"gs://{B}/dry/in/ner.en.conll", CONLL.encode())
    gcs(f"gs://{B}/dry/in/mono.de.gz", __import__("gzip").compress(MONO.encode()))
    return f"gs://{B}/dry/in"


def dry_run(capsys, argv, out):
    code = main(argv + ["--output", out] + DATAFLOW)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert not [p for p in storage.listing(f"gs://{B}/dry") if p.startswith(out)]  # nothing written
    return captured.out


def commands(inputs, seq2seq, encoder):
    en_de = ["--src-lang", "en", "--tgt-lang", "de"]
    return {
        "filter": (["run", "filter", "--input", f"{inputs}/pairs.tsv"] + en_de,
                   ["read", "filter", "dedup"]),
        "backtranslate": (["run", "backtranslate", "--input", f"{inputs}/mono.de.gz", "--input-format", "text",
                           "--src-lang", "de", "--tgt-lang", "en", "--translate-model", seq2seq],
                          ["read", "backtranslate", "export"]),
        "align": (["run", "align", "--input", f"{inputs}/pairs.tsv", "--align-model", encoder,
                   "--align-layer", "2"] + en_de, ["read", "align"]),
        "project": (["run", "project", "--input", f"{inputs}/ner.en.conll", "--translate-model", seq2seq,
                     "--align-model", encoder, "--align-layer", "2"] + en_de,
                    ["read", "backtranslate", "align", "project", "export"]),
        "codeswitch": (["run", "codeswitch", "--input", f"{inputs}/pairs.tsv", "--align-model", encoder,
                        "--align-layer", "2"] + en_de, ["read", "align", "codeswitch", "export"]),
        "chain": (["run", "chain", "--input", f"{inputs}/mono.de.gz", "--input-format", "text",
                   "--src-lang", "de", "--tgt-lang", "en",
                   "--step", f"backtranslate --translate-model {seq2seq} --n 2", "--step", "filter"],
                  ["read", "backtranslate", "filter", "dedup", "export"]),
    }


@pytest.mark.parametrize("command", ["filter", "backtranslate", "align", "project", "codeswitch", "chain"])
def test_each_run_command_builds_a_dataflow_job(command, inputs, capsys, tiny_seq2seq, tiny_encoder):
    argv, stages = commands(inputs, tiny_seq2seq, tiny_encoder)[command]
    out = dry_run(capsys, argv, f"gs://{B}/dry/out-{command}")
    assert out.startswith("dataflow dry run: job built, not submitted")
    assert f"stages:     {' -> '.join(stages)} -> write" in out
    assert "project:    xlaug-test-482113" in out and "GPUs:       none" in out
    transforms = int(out.split("job graph:")[1].split()[0])
    assert transforms > 20


def test_gpu_workers_and_image_are_in_the_job(inputs, capsys, tiny_seq2seq):
    argv = ["run", "backtranslate", "--input", f"{inputs}/mono.de.gz", "--input-format", "text",
            "--src-lang", "de", "--tgt-lang", "en", "--translate-model", tiny_seq2seq,
            "--dataflow-gpu", "nvidia-l4:2", "--sdk_container_image", "europe-docker.pkg.dev/p/xlaug/worker:1",
            "--max_num_workers", "8"]
    out = dry_run(capsys, argv, f"gs://{B}/dry/out-gpu")
    assert "GPUs:       type:nvidia-l4;count:2;install-nvidia-driver" in out
    assert "image:      europe-docker.pkg.dev/p/xlaug/worker:1" in out
    assert "(max 8)" in out and "machine g2-standard-24" in out  # L4s attach to G2 machines
    assert "no_use_multiple_sdk_containers" in out  # one SDK process per GPU VM


def test_dry_run_needs_dataflow(inputs, capsys, tmp_path):
    code = main(["run", "filter", "--input", f"{inputs}/pairs.tsv", "--src-lang", "en", "--tgt-lang", "de",
                 "--output", str(tmp_path / "o"), "--dry-run"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == ["xlaug: error: --dry-run builds a Dataflow job: it needs --runner dataflow"]
    assert not (tmp_path / "o").exists()
