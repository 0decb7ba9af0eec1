"""What importing the library costs: no web stack, no training code, no service package."""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

SERVER = ("fastapi", "uvicorn", "prometheus_client", "service")
TRAINER = "textcnn.engine.trainer"


def modules_after(statement: str) -> list[str]:
    """``sys.modules`` of a fresh interpreter after running ``statement``."""
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    return json.loads(out.stdout)


def imported(package: str, loaded: list[str]) -> bool:
    return any(m == package or m.startswith(package + ".") for m in loaded)


@pytest.mark.parametrize(
    ("statement", "trains"),
    [
        ("import textcnn", False),
        ("from textcnn.engine.predictor import Predictor", False),
        ("import textcnn.cli", True),
    ],
)
def test_the_library_imports_neither_the_server_nor_the_trainer(
    statement: str, trains: bool
) -> None:
    loaded = modules_after(statement)
    assert not [package for package in SERVER if imported(package, loaded)]
    assert imported(TRAINER, loaded) == trains


def test_no_library_module_imports_the_service_at_import_time() -> None:
    """Only ``textcnn serve``, when run, imports ``service`` (inside the command)."""
    for path in (REPO / "textcnn").rglob("*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                names.append(getattr(node, "module", None) or "")
                assert not any(n.split(".")[0] == "service" for n in names), path


def test_serve_without_the_extra_names_it() -> None:
    code = (
        "import sys; sys.modules['uvicorn'] = None\n"
        "from textcnn.cli import main\n"
        "sys.exit(main(['serve', '--registry', 'nowhere']))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 2
    assert "pip install 'textcnn[serve]'" in run.stderr
