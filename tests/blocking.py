"""A test-only command, ``xlaug run blocktest``: ``run filter`` with one more
stage after the filters that, when XLAUG_TEST_BLOCK_AT names a record id,
stops at that record until a file appears, so a test can kill the run at a
known point.  Every record it sees is noted in XLAUG_TEST_BLOCK_DIR/seen-PID.

    python -m tests.blocking run blocktest --input ... --output ...
"""
from __future__ import annotations

import os
import sys
import time

from xlaug.pipelines.filter import HELP, OPTIONS  # noqa: F401 - the command's options
from xlaug.transforms.stage import Step

DESCRIPTION = "run filter with a stage that can be told to wait at one record (tests only)"


class BlockAt(Step):
    name = "block"

    def __init__(self, record_id: str | None, folder: str | None):
        self.record_id, self.folder = record_id, folder

    def process(self, record):
        if self.folder:
            with open(os.path.join(self.folder, f"seen-{os.getpid()}"), "a") as f:
                f.write(f"{record.id}\n")
        if self.record_id and record.id == self.record_id:
            open(os.path.join(self.folder, "reached"), "w").close()
            while not os.path.exists(os.path.join(self.folder, "release")):
                time.sleep(0.05)
        yield record


def build_stages(args) -> list:
    from xlaug.pipelines.filter import build_stages as filter_stages
    stages = filter_stages(args)
    block = BlockAt(os.environ.get("XLAUG_TEST_BLOCK_AT"), os.environ.get("XLAUG_TEST_BLOCK_DIR"))
    return stages[:1] + [block] + stages[1:]  # after the filters, before dedup (a whole-corpus stage)


if __name__ == "__main__":
    from xlaug.pipelines import cli
    cli.COMMANDS[("run", "blocktest")] = "tests.blocking"
    sys.exit(cli.main(sys.argv[1:]))
