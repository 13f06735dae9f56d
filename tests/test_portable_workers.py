"""The path Flink, Spark and other portable runners take: Beam's portable
runner with SDK workers in separate processes, (a) from Beam's own worker
pool (EXTERNAL environment) started on a free 127.0.0.1 port, (b) started by
the runner itself, one process per worker from a command line (Beam's
subprocess SDK environment, what PROCESS is for a Java job server).  Each run
command gives the same dataset as the direct runner (batch size 1, so every
model call sees the same shapes; scores compared with a tolerance).

Beam's PROCESS environment itself needs a Java job server (Flink, Spark):
Beam's embedded Python job server has no PROCESS worker handler (2.77:
KeyError 'beam:env:process:v1'), and the job server jars come from Maven,
which this machine cannot reach; xlaug says so in one line."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from xlaug.pipelines.cli import main

PAIRS = ["the cat sleeps on the mat .\tdie Katze schläft auf der Matte .",
         "a small house by the river .\tein kleines Haus am Fluss .",
         "no tab on this line",
         "we went home late .\twir gingen spät nach Hause .",
         "I like green apples .\tich mag grüne Äpfel ."]
CONLL = "Anna\tB-PER\nlives\tO\nin\tO\nParis\tB-LOC\n.\tO\n\nthe\tO\ncat\tO\nsleeps\tO\n\nBob\tB-PER\nruns\tO\n"
MONO = "ein kleines Haus .\ndie Katze schläft .\nwir gingen nach Hause .\n"


@pytest.fixture(scope="module")
def worker_pool(tmp_path_factory):
    """Beam's worker pool in its own process group; yields (address, its log)."""
    log_path = tmp_path_factory.mktemp("pool") / "pool.log"
    log = open(log_path, "wb")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ)
    # The pool starts each SDK worker as `python`: this interpreter.
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    pool = subprocess.Popen([sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main",
                             f"--service_port={port}"], env=env, start_new_session=True,
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.time() > deadline or pool.poll() is not None:
                os.killpg(pool.pid, signal.SIGKILL)
                pytest.fail("Beam's worker pool did not start")
            time.sleep(0.2)
    try:
        yield f"127.0.0.1:{port}", log_path
    finally:
        log.close()
        os.killpg(pool.pid, signal.SIGTERM)
        try:
            pool.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(pool.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("portable-in")
    (d / "pairs.tsv").write_text("\n".join(PAIRS) + "\n", encoding="utf-8")
    (d / "ner.en.conll").write_text(CONLL, encoding="utf-8")
    (d / "mono.de").write_text(MONO, encoding="utf-8")
    return d


def command_argv(name, d, seq2seq, encoder):
    en_de = ["--src-lang", "en", "--tgt-lang", "de"]
    align = ["--align-model", encoder, "--align-layer", "2", "--align-batch-size", "1"]
    translate = ["--translate-model", seq2seq, "--translate-batch-size", "1", "--max-new-tokens", "8"]
    return {
        "filter": ["filter", "--input", str(d / "pairs.tsv"), "--input-format", "tsv", "--skip", "langid"] + en_de,
        "backtranslate": ["backtranslate", "--input", str(d / "mono.de"), "--input-format", "text",
                          "--src-lang", "de", "--tgt-lang", "en", "--n", "2", "--num-beams", "2"] + translate,
        "align": ["align", "--input", str(d / "pairs.tsv"), "--input-format", "tsv"] + align + en_de,
        "project": ["project", "--input", str(d / "ner.en.conll"), "--on-missing", "drop"] + translate + align
                   + en_de,
        "codeswitch": ["codeswitch", "--input", str(d / "pairs.tsv"), "--input-format", "tsv", "--samples", "2"]
                      + align + en_de,
    }[name]


def rows(out) -> dict:
    found = {}
    for sub in ("data", "rejected"):
        for f in sorted(os.listdir(out / sub)):
            for line in open(out / sub / f, encoding="utf-8"):
                if line.strip():
                    r = json.loads(line)
                    key = r.get("id") or (r.get("record") or {}).get("id") or r.get("loc")
                    found[(sub, key, r.get("reason"))] = r
    return found


def same(a, b, where=""):
    if isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-4, abs=1e-5), where
    elif isinstance(a, dict) and isinstance(b, dict):
        assert sorted(a) == sorted(b), where
        for k in a:
            if k != "seconds":
                same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


@pytest.fixture(scope="module")
def direct_runs(tmp_path_factory):
    """The direct runner's output of each command, made once for both environments."""
    runs, base = {}, tmp_path_factory.mktemp("direct")

    def run(command, argv):
        if command not in runs:
            assert main(argv + ["--output", str(base / command)]) == 0
            runs[command] = base / command
        return runs[command]
    return run


SUBPROCESS_ENV = "beam:env:harness_subprocess_python:v1"


@pytest.mark.parametrize("environment", ["external", "subprocess"])
@pytest.mark.parametrize("command", ["filter", "backtranslate", "align", "project", "codeswitch"])
def test_workers_in_other_processes_give_the_direct_runners_dataset(command, environment, worker_pool, files,
                                                                    direct_runs, tmp_path, tiny_seq2seq,
                                                                    tiny_encoder):
    argv = ["run"] + command_argv(command, files, tiny_seq2seq, tiny_encoder) + ["--output-format", "jsonl",
                                                                             "--export", "records"]
    address, pool_log = worker_pool
    direct_out = direct_runs(command, argv)
    portable = ["--output", str(tmp_path / "portable"), "--runner", "portable"]
    if environment == "external":
        started = pool_log.read_text().count("Starting worker")
        assert main(argv + portable + ["--environment_type=EXTERNAL", f"--environment_config={address}"]) == 0
        assert pool_log.read_text().count("Starting worker") > started  # the work ran in the pool's workers
    else:
        # The runner starts each SDK worker with this shell command line; each
        # notes its process id, so the test sees the work left this process.
        pids = tmp_path / "worker-pids"
        worker = f"echo $$ >> {pids}; exec {sys.executable} -m apache_beam.runners.worker.sdk_worker_main"
        assert main(argv + portable + [f"--environment_type={SUBPROCESS_ENV}", f"--environment_config={worker}"]) == 0
        started = {int(p) for p in pids.read_text().split()}
        assert started and os.getpid() not in started
    direct, portable = rows(direct_out), rows(tmp_path / "portable")
    assert sorted(direct) == sorted(portable) and any(k[0] == "data" for k in direct)
    for key in direct:
        same(direct[key], portable[key], str(key))
    rd = json.load(open(direct_out / "report.json"))
    rp = json.load(open(tmp_path / "portable" / "report.json"))
    assert (rd["read"], rd["kept"], rd["rejected_by_reason"]) == (rp["read"], rp["kept"], rp["rejected_by_reason"])


def test_process_environment_on_the_embedded_job_server_is_refused_in_one_line(files, tmp_path, capsys):
    out = tmp_path / "o"
    code = main(["run", "filter", "--input", str(files / "pairs.tsv"), "--src-lang", "en", "--tgt-lang", "de",
                 "--output", str(out), "--runner", "portable", "--environment_type=PROCESS",
                 '--environment_config={"command": "/opt/apache/beam/boot"}'])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "PROCESS" in err[0] and "EXTERNAL" in err[0] and not out.exists()
