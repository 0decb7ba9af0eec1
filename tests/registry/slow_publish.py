"""``python -m tests.registry.slow_publish SECONDS ARGS...``: the CLI, pausing each publish
for SECONDS once the version's manifest is written (before it is renamed into place), so a
test can kill the process inside that window."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from textcnn.cli import main
from textcnn.store import local as store


def pause_after_manifests(seconds: float) -> None:
    write = store.write_json_atomic

    def write_then_wait(path: Path, obj: Any) -> None:
        write(path, obj)
        if path.name == store.MANIFEST:
            time.sleep(seconds)

    store.write_json_atomic = write_then_wait


if __name__ == "__main__":
    pause_after_manifests(float(sys.argv[1]))
    sys.exit(main(sys.argv[2:]))
