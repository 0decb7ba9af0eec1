"""``python -m tests.registry.slow_publish SECONDS ARGS...``: the CLI, pausing each publish
for SECONDS at one moment, so a test can kill the process inside that window, or line two
publishers up. For a registry directory the pause comes once the version's manifest is
written (before it is renamed into place); for an S3 registry ``TEXTCNN_TEST_PAUSE_AT``
says after which write: ``upload`` (the weights), ``manifest`` or ``pointer``."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from textcnn.cli import main
from textcnn.store import local
from textcnn.store.s3 import S3Store

S3_MOMENTS = {
    "upload": "/model.safetensors",
    "manifest": "/manifest.json",
    "pointer": "/current.json",
}


def pause_after_manifests(seconds: float) -> None:
    write = local.write_json_atomic

    def write_then_wait(path: Path, obj: Any) -> None:
        write(path, obj)
        if path.name == local.MANIFEST:
            time.sleep(seconds)

    local.write_json_atomic = write_then_wait


def pause_after_s3_write(seconds: float, moment: str) -> None:
    put = S3Store._put
    suffix = S3_MOMENTS[moment]

    def put_then_wait(self: S3Store, key: str, body: Any, if_match: str | None = None) -> str:
        etag = put(self, key, body, if_match)
        if key.endswith(suffix):
            time.sleep(seconds)
        return etag

    S3Store._put = put_then_wait


if __name__ == "__main__":
    pause_after_manifests(float(sys.argv[1]))
    if os.environ.get("TEXTCNN_TEST_PAUSE_AT"):
        pause_after_s3_write(float(sys.argv[1]), os.environ["TEXTCNN_TEST_PAUSE_AT"])
    sys.exit(main(sys.argv[2:]))
