"""What importing the library costs: no web stack, no training code, no service package."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

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


def imports(path: Path, everywhere: bool = False) -> list[str]:
    """The modules ``path`` imports at module level (``everywhere``: in functions too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = ast.walk(tree) if everywhere else tree.body
    names = []
    for node in nodes:
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def test_no_library_module_imports_the_service_at_import_time() -> None:
    """Only ``textcnn serve``, when run, imports ``service`` (inside the command)."""
    for path in (REPO / "textcnn").rglob("*.py"):
        assert not [n for n in imports(path) if n.split(".")[0] == "service"], path


def test_the_engine_imports_no_modality() -> None:
    """The engine knows a modality only by the processor it registers for bundles."""
    modalities = ("textcnn.text", "textcnn.image", "textcnn.modalities")
    for path in (REPO / "textcnn" / "engine").rglob("*.py"):
        found = [n for n in imports(path, everywhere=True) if n.startswith(modalities)]
        assert not found, path


def test_serve_without_the_extra_names_it() -> None:
    code = (
        "import sys; sys.modules['uvicorn'] = None\n"
        "from textcnn.cli import main\n"
        "sys.exit(main(['serve', '--registry', 'nowhere']))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 2
    assert "pip install 'textcnn[serve]'" in run.stderr


def test_no_import_cycles() -> None:
    """No module imports itself back through others (counting imports inside functions and
    under ``TYPE_CHECKING``)."""
    paths = [*(REPO / "textcnn").rglob("*.py"), *(REPO / "service").rglob("*.py")]
    names = {".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__"): p
             for p in paths}  # fmt: skip
    graph = {}
    for name, path in names.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        targets = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                targets |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        graph[name] = {t for t in targets if t in names and t != name}

    for name in graph:
        reachable, todo = set(), list(graph[name])
        while todo:
            node = todo.pop()
            if node not in reachable:
                reachable.add(node)
                todo += graph[node]
        assert name not in reachable, f"{name} imports itself back"
