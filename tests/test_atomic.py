"""Runs that are cut short: nothing that loads as a finished dataset, one
line on Ctrl-C, and --resume that finishes the run without reading the
finished input files again, with the dataset an uninterrupted run makes.

The kill point is fixed by tests/blocking.py: a stage that waits at a
chosen record until told to go on."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.three_files import DE, EN, write_three_files

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE = ["--src-lang", "en", "--tgt-lang", "de", "--skip", "langid", "--max-ratio", "2",
        "--splits", "train=0.7,test=0.3"]


@pytest.fixture
def corpus(tmp_path):
    """Three files; a bad line and a bad ratio in each; duplicates across files."""
    return write_three_files(tmp_path / "in")


def start(corpus, out, *extra, block_at=None, watch=None, inputs="part*.tsv", env_more=None):
    env = dict(os.environ)
    env.pop("XLAUG_TEST_BLOCK_AT", None)
    env["XLAUG_PART_BYTES"] = "1"  # one part a file, however small (pipelines/parts.py)
    env.update(env_more or {})
    if block_at:
        env["XLAUG_TEST_BLOCK_AT"] = block_at
    if watch:
        env["XLAUG_TEST_BLOCK_DIR"] = str(watch)
    argv = [sys.executable, "-m", "tests.blocking", "run", "blocktest", "--input", str(corpus / inputs),
            "-o", str(out), *BASE, *extra]
    # Ctrl-C as in a terminal: a shell starts background jobs (`pytest &`, nohup) with SIGINT
    # ignored, which Python then keeps ignoring; the run under test gets the default back.
    return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def finish(proc, timeout=300):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def wait_for(path, proc, timeout=300):
    end = time.time() + timeout
    while not os.path.exists(path):
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before {path}: {proc.communicate()}")
        assert time.time() < end, f"{path} never appeared"
        time.sleep(0.1)


def rows(out) -> dict:
    import datasets
    ds = datasets.load_dataset(str(out))
    return {split: sorted((dict(r) for r in part), key=lambda r: r["id"]) for split, part in ds.items()}


def counts(out) -> dict:
    report = json.load(open(os.path.join(out, "report.json")))
    return {k: report[k] for k in ("read", "kept", "rejected", "created", "rejected_by_reason", "splits",
                                   "identity_ok", "stages")}


def loads(out) -> bool:
    import datasets
    try:
        datasets.load_dataset(str(out))
    except Exception:  # noqa: BLE001 - any failure to load is what is wanted
        return False
    return True


def seen(folder) -> set:
    return {line.strip() for f in os.listdir(folder) if f.startswith("seen-")
            for line in open(os.path.join(folder, f))}


@pytest.mark.parametrize("runner", [[], ["--runner", "multiprocess", "--workers", "2"], ["--runner", "portable"]],
                         ids=["direct", "multiprocess", "portable"])
def test_ctrl_c_prints_one_line_and_leaves_no_dataset(corpus, tmp_path, runner):
    out, watch = tmp_path / "out", tmp_path / "watch"
    watch.mkdir()
    proc = start(corpus, out, *runner, block_at="part2.tsv:12", watch=watch)
    wait_for(watch / "reached", proc)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole process group
    code, _, err = finish(proc, timeout=60)
    assert code == 130
    assert err.strip().splitlines()[-1:] == [
        f"xlaug: interrupted; the unfinished run is kept in {out}/.xlaug-run: the same command with --resume "
        "finishes it"]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert sorted(os.listdir(out)) == [".xlaug-run"] and not loads(out)
    # Run again without a word: one line that says what to do.
    code, _, err = finish(start(corpus, out, *runner))
    assert code == 2 and err.strip().splitlines() == [
        f"xlaug: error: {out}: holds an unfinished run (no report.json): pass --resume to finish it with the "
        "same command, or --overwrite to start again"]


def test_resume_after_a_kill_reads_only_the_unfinished_files(corpus, tmp_path):
    ref, out, watch = tmp_path / "ref", tmp_path / "out", tmp_path / "watch"
    watch.mkdir()
    assert finish(start(corpus, ref))[0] == 0
    proc = start(corpus, out, block_at="part2.tsv:12", watch=watch)
    wait_for(watch / "reached", proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert not loads(out) and not os.path.exists(out / "report.json")
    assert {i.split(":")[0] for i in seen(watch)} == {"part0.tsv", "part1.tsv", "part2.tsv"}
    # The finished files now hold other text (same size and time): a resumed
    # run that read them again would make another dataset.
    for k in (0, 1):
        path = corpus / f"part{k}.tsv"
        st = os.stat(path)
        path.write_bytes(bytes(c if c in b"\n\t" else ord("x") for c in path.read_bytes()))
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    for f in os.listdir(watch):
        os.remove(watch / f)
    code, stdout, err = finish(start(corpus, out, "--resume", watch=watch))
    assert code == 0, err
    assert {i.split(":")[0] for i in seen(watch)} == {"part2.tsv"}  # parts 0 and 1 were not redone
    assert rows(out) == rows(ref)
    assert counts(out) == counts(ref) and counts(out)["identity_ok"]
    assert sorted(os.listdir(out)) == ["README.md", "_stats", "data", "rejected", "report", "report.json"]
    rejected = lambda o: sorted(open(os.path.join(o, "rejected", f)).read() for f in os.listdir(o / "rejected"))
    assert sorted("".join(rejected(out)).splitlines()) == sorted("".join(rejected(ref)).splitlines())


def test_resume_inside_one_large_file(tmp_path):
    """One file cut into byte ranges, a part each: a resumed run skips the
    finished ranges, and ids keep the file's line numbers (lines that
    straddle a range boundary included)."""
    folder = tmp_path / "in"
    folder.mkdir()
    lines = [f"{EN[i % 5]} number {i % 70} .\t{DE[i % 5]} Nummer {i % 70} ." for i in range(300)]
    lines[5], lines[200] = "a line without a tab", f"{EN[0]} .\t{DE[0]} {DE[1]} {DE[2]} ."
    (folder / "big.tsv").write_text("\n".join(lines) + "\n")
    ranges = {"XLAUG_RANGE_BYTES": "4000"}  # ~21 KB: 5 ranges, one part each
    ref, out, watch = tmp_path / "ref", tmp_path / "out", tmp_path / "watch"
    watch.mkdir()
    # The reference reads the file in one piece (no parts).
    assert finish(start(folder, ref, inputs="big.tsv", env_more={"XLAUG_RANGE_BYTES": "1000000"}))[0] == 0
    proc = start(folder, out, block_at="big.tsv:280", watch=watch, inputs="big.tsv", env_more=ranges)
    wait_for(watch / "reached", proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert len(os.listdir(out / ".xlaug-run" / "units")) >= 4  # parts 0-3 finished (folder + mark)
    for f in os.listdir(watch):
        os.remove(watch / f)
    code, _, err = finish(start(folder, out, "--resume", watch=watch, inputs="big.tsv", env_more=ranges))
    assert code == 0, err
    again = sorted(int(i.split(":")[1]) for i in seen(watch))
    assert again and again[0] > 200 and again[-1] == 300  # only the last range was read again
    assert rows(out) == rows(ref)
    assert counts(out) == counts(ref) and counts(out)["identity_ok"]


def test_resume_refuses_another_command(corpus, tmp_path):
    out, watch = tmp_path / "out", tmp_path / "watch"
    watch.mkdir()
    proc = start(corpus, out, block_at="part1.tsv:3", watch=watch)
    wait_for(watch / "reached", proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    code, _, err = finish(start(corpus, out, "--resume", "--max-ratio", "3"))
    assert code == 2 and err.strip().splitlines() == [
        f"xlaug: error: --resume: --max-ratio was 2.0 in the unfinished run, now 3.0 ({out}); run the same "
        "command, or --overwrite to start again"]
    (corpus / "part3.tsv").write_text(f"{EN[0]}\t{DE[0]}\n")
    code, _, err = finish(start(corpus, out, "--resume"))
    assert code == 2 and "the input now includes" in err and "part3.tsv" in err
    code, _, err = finish(start(corpus, out, "--resume", "--overwrite"))
    assert code == 2 and "choose one" in err
    # --overwrite starts again; --resume onto a finished run has nothing to do.
    assert finish(start(corpus, out, "--overwrite"))[0] == 0 and loads(out)
    code, _, err = finish(start(corpus, out, "--resume"))
    assert code == 2 and "holds a finished run (report.json): nothing to resume" in err


def test_publish_cut_short_does_not_load(corpus, tmp_path, monkeypatch):
    """Killed while publishing: the card is there before the data, and it names
    each data file, so the folder does not load until --resume finishes it."""
    from xlaug.pipelines import api, outdir
    out = tmp_path / "out"
    moved = []

    def cut(src, dst):
        if os.path.basename(dst) == "data":
            raise KeyboardInterrupt
        moved.append(os.path.basename(dst))
        os.replace(src, dst)

    monkeypatch.setattr(outdir, "_move", cut)
    opts = dict(input=str(corpus / "part0.tsv"), output=str(out), src_lang="en", tgt_lang="de", skip="langid")
    with pytest.raises(KeyboardInterrupt):
        api.run("filter", **opts)
    assert moved == ["rejected", "report", "_stats", "README.md"]
    assert not loads(out)
    monkeypatch.undo()
    with pytest.raises(api.UsageError if hasattr(api, "UsageError") else Exception, match="--resume"):
        api.run("filter", **opts)
    report = api.run("filter", resume=True, **opts)
    assert loads(out) and report["identity_ok"] and not os.path.exists(out / ".xlaug-run")


def test_remote_output_is_published_and_the_temporary_area_removed(gcs, corpus):
    from tests.conftest import GCS_BUCKET
    from xlaug.pipelines import api
    from xlaug.transforms import storage
    out = f"gs://{GCS_BUCKET}/atomic/out"
    report = api.run("filter", input=str(corpus / "part*.tsv"), output=out, src_lang="en", tgt_lang="de",
                     skip="langid")
    names = {p[len(out) + 1:].split("/")[0] for p in storage.listing(out)}
    assert names == {"README.md", "_stats", "data", "rejected", "report", "report.json"}
    assert report["identity_ok"] and report["read"] == 90


def test_remote_publish_cut_short_then_resumed(gcs, corpus, monkeypatch):
    from tests.conftest import GCS_BUCKET
    from xlaug.pipelines import api, outdir
    from xlaug.transforms import storage
    out = f"gs://{GCS_BUCKET}/atomic/cut"
    move = outdir._move

    def cut(src, dst):
        if dst.endswith("/data"):
            raise KeyboardInterrupt
        move(src, dst)

    monkeypatch.setattr(outdir, "_move", cut)
    opts = dict(input=str(corpus / "part0.tsv"), output=out, src_lang="en", tgt_lang="de", skip="langid")
    with pytest.raises(KeyboardInterrupt):
        api.run("filter", **opts)
    names = lambda: {p[len(out) + 1:].split("/")[0] for p in storage.listing(out)}
    assert names() == {".xlaug-run", "README.md", "_stats", "rejected", "report"}
    monkeypatch.undo()
    with pytest.raises(Exception, match="holds an unfinished run"):
        api.run("filter", **opts)
    report = api.run("filter", resume=True, **opts)
    assert report["identity_ok"] and report["read"] == 30
    assert names() == {"README.md", "_stats", "data", "rejected", "report", "report.json"}
