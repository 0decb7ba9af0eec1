"""Where and how a benchmark writes its raw results: JSON under ``bench/results/``, which
``bench/tables.py`` draws the docs' tables from."""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def json_out(name: str) -> dict[str, Any]:
    """``add_argument`` keywords of a benchmark's ``--json-out``: by default
    ``bench/results/<name>.json``."""
    default = RESULTS / f"{name}.json"
    shown = default.relative_to(RESULTS.parents[1])
    return {
        "type": Path,
        "default": default,
        "help": f"write the raw results (every run) here (default: {shown})",
    }


def command(module: str) -> str:
    """The command line that ran ``module``, as recorded in its results."""
    return shlex.join(["python", "-m", module, *sys.argv[1:]])


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` to ``path`` whole or not at all (a run stopped mid-write keeps the old
    file); paths and other values JSON lacks are written as strings."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)
