"""Data kept on local disk between stages, on Beam's in-memory runners.

Beam's local runners (the direct runner, in-process or with worker
processes, and the portable runner's embedded job server) pass every
PCollection that crosses a stage boundary (a GroupByKey, a side input, a
Flatten of several stages' outputs) through the driver process, which holds
it whole in memory until the next stage reads it: the driver then grows
with the corpus.  ``Spilled`` keeps such data in local files instead: each
bundle writes its elements to files of its own and passes on only their
names; the stage that needs the elements reads them back.  The workers of
those runners run on this machine, so they can read each other's files.
The files stay until the pipeline ends (a retried bundle reads them
again): spilling needs local disk for about the pickled size of what it
holds, for one pipeline at a time.
Distributed runners shuffle through their own storage and get a plain
Flatten.
"""
from __future__ import annotations

import os
import pickle

import apache_beam as beam

# Runners that keep every grouped value in memory until the group is read:
# the direct runner (in-process or with worker processes) and Prism.
IN_MEMORY_RUNNERS = ("directrunner", "switchingdirectrunner", "xlaugdirectrunner", "bundlebaseddirectrunner",
                     "fnapirunner", "prismrunner")
# Elements a spill file holds before the next one starts: files are the
# units the reading stage shares out among its workers.
FILE_ELEMENTS = 50_000


def holds_data_in_memory(pipeline) -> bool:
    """True on Beam's local runners: the direct runner, and the portable
    runner's embedded job server (the same in-memory runner) with workers on
    this machine, which can read the files spilled data waits in."""
    from apache_beam.options.pipeline_options import PortableOptions
    name = type(pipeline.runner).__name__.lower()
    if name == "portablerunner":
        portable = pipeline.options.view_as(PortableOptions)
        env, config = (portable.environment_type or "").upper(), portable.environment_config or ""
        local = (env in ("LOOPBACK", "BEAM:ENV:HARNESS_SUBPROCESS_PYTHON:V1")
                 or env == "EXTERNAL" and config.startswith(("localhost:", "127.0.0.1:")))
        return portable.job_endpoint == "embed" and local
    return name in IN_MEMORY_RUNNERS


_ROOT: str | None = None
_PREFIX = "xlaug-spill-"


def _start_time(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot, from /proc):
    with the pid, it names a process even after its pid is reused.  "0"
    where /proc is missing; None when no such process runs."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        return stat[stat.rindex(b")") + 2:].split()[19].decode()
    except FileNotFoundError:
        if os.path.isdir("/proc/self"):
            return None
    except (OSError, ValueError, IndexError):
        return "0"
    try:  # no /proc (macOS): is the pid alive at all?
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except OSError:
        pass  # someone else's process: alive
    return "0"


def remove_stale(folder: str | None = None) -> list[str]:
    """Remove the spill folders in ``folder`` (the temporary folder) whose
    driver process no longer runs (a run killed with SIGKILL cannot remove
    its own); returns their paths.  Folders of live processes stay."""
    import shutil
    import tempfile
    folder = folder or tempfile.gettempdir()
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        parts = name[len(_PREFIX):].split("-")
        if not name.startswith(_PREFIX) or len(parts) != 3 or not parts[0].isdigit():
            continue
        started = _start_time(int(parts[0]))
        reused = started not in (None, "0") and parts[1] != "0" and started != parts[1]
        if started is None or reused:
            path = os.path.join(folder, name)
            shutil.rmtree(path, ignore_errors=True)
            if not os.path.exists(path):
                removed.append(path)
    return removed


def _root() -> str:
    """This driver process's local folder for spilled data, named after the
    process (pid and start time) so that a later run can tell it is stale;
    removed when the process exits."""
    global _ROOT
    if _ROOT is None or not os.path.isdir(_ROOT):
        import atexit
        import shutil
        import tempfile
        remove_stale()
        pid = os.getpid()
        _ROOT = tempfile.mkdtemp(prefix=f"{_PREFIX}{pid}-{_start_time(pid) or 0}-")
        atexit.register(shutil.rmtree, _ROOT, True)
    return _ROOT


def spill_folder(pipeline=None) -> str:
    """The local folder spilled data of ``pipeline`` waits in: one per
    pipeline inside this process's folder, removed by ``release(pipeline)``
    when the pipeline has finished (without a pipeline: the process's
    folder).  Files stay until then, not only until first read: a runner
    that retries a failed bundle reads them again."""
    root = _root()
    if pipeline is None:
        return root
    folder = getattr(pipeline, "_xlaug_spill", None)
    if folder is None or not os.path.isdir(folder):
        import tempfile
        folder = tempfile.mkdtemp(dir=root)
        pipeline._xlaug_spill = folder
    return folder


def release(pipeline) -> None:
    """Remove the spilled data of a finished (or failed) pipeline."""
    import shutil
    folder = getattr(pipeline, "_xlaug_spill", None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
        pipeline._xlaug_spill = None


def _in_global_window(value):
    from apache_beam.transforms.window import GlobalWindow
    from apache_beam.utils.timestamp import MIN_TIMESTAMP
    from apache_beam.utils.windowed_value import WindowedValue
    return WindowedValue(value, MIN_TIMESTAMP, [GlobalWindow()])


class SpillFn(beam.DoFn):
    """Writes its input elements, pickled, to files in ``folder`` (one
    after another, ``FILE_ELEMENTS`` each); emits each file's name once the
    file is complete."""

    def __init__(self, folder: str):
        self.folder = folder

    def start_bundle(self):
        self._file, self._n = None, 0

    def process(self, element):
        if self._file is None:
            import uuid
            self._path = os.path.join(self.folder, uuid.uuid4().hex)
            self._file = open(self._path, "wb")
        data = pickle.dumps(element, protocol=pickle.HIGHEST_PROTOCOL)
        self._file.write(len(data).to_bytes(4, "little") + data)
        self._n += 1
        if self._n >= FILE_ELEMENTS:
            yield self._close()

    def finish_bundle(self):
        if self._file is not None:
            yield _in_global_window(self._close())

    def _close(self) -> str:
        self._file.close()
        self._file, self._n = None, 0
        return self._path


def unspill(path: str):
    """The elements of one spilled file, in order (the file stays: see spill_folder)."""
    with open(path, "rb") as f:
        while True:
            head = f.read(4)
            if not head:
                break
            yield pickle.loads(f.read(int.from_bytes(head, "little")))


class Spilled(beam.PTransform):
    """A tuple of PCollections (or one) -> one PCollection of all their
    elements (a Flatten).
    On in-memory runners the elements travel through local files and only
    the files' names cross to the next stage; elsewhere a plain Flatten."""

    def __init__(self, label: str, spill: bool | None = None):
        super().__init__(label=label)
        self.spill = spill

    def expand(self, pcolls):
        pcolls = tuple(pcolls) if isinstance(pcolls, (list, tuple)) else (pcolls,)
        pipeline = pcolls[0].pipeline
        spill = holds_data_in_memory(pipeline) if self.spill is None else self.spill
        if not spill:
            return pcolls | "Flatten" >> beam.Flatten()
        folder = spill_folder(pipeline)
        paths = [pc | f"Spill {i}" >> beam.ParDo(SpillFn(folder)) for i, pc in enumerate(pcolls)]
        # The shuffle is the stage boundary: files are read only after every
        # bundle that writes them has finished, and by any worker.
        return (paths | "Files" >> beam.Flatten() | "Spread files" >> beam.Reshuffle()
                | "Unspill" >> beam.FlatMap(unspill))
