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


# The declared layer order, lowest first: a package imports only packages of lower layers.
# ``textcnn`` is the package's own ``__init__`` (its public names); ``cache`` and ``version``
# are leaves beside ``errors``; the registry's ``store`` sits beside the modalities' packages.
LAYERS: list[set[str]] = [
    {"errors", "cache", "version"},
    {"models"},
    {"engine"},
    {"text", "image", "store"},
    {"modalities"},
    {"report", "export", "retrain", "textcnn"},
    {"cli"},
    {"__main__", "demo_data"},  # scripts: ``python -m textcnn``, ``python -m textcnn.demo_data``
    {"service"},
]
# The one import that goes up: ``textcnn serve`` runs the service, imported in the command.
UPWARD = {("cli", "service"): "textcnn/cli/serve.py"}


def package_of(module: str) -> str | None:
    """The layer a module belongs to: ``service``, a subpackage (or module) of ``textcnn``,
    or ``textcnn`` itself; None outside the project."""
    parts = module.split(".")
    if parts[0] == "service":
        return "service"
    if parts[0] != "textcnn":
        return None
    return parts[1] if len(parts) > 1 else "textcnn"


def package_graph(root: Path) -> dict[str, dict[str, set[str]]]:
    """Which package imports which, by the files that do it: every import of every module
    under ``root``'s ``textcnn/`` and ``service/``, at module level, inside functions and under
    ``TYPE_CHECKING`` alike (a lazy import still ties the layers together)."""
    graph: dict[str, dict[str, set[str]]] = {}
    for path in [*(root / "textcnn").rglob("*.py"), *(root / "service").rglob("*.py")]:
        parts = path.relative_to(root).with_suffix("").parts
        source = package_of(".".join(parts).removesuffix(".__init__"))
        package = parts[:-1]  # a relative import starts from the module's package
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
                module = ".".join(p for p in (base, node.module or "") if p)
                targets = [module] if node.module else [f"{module}.{a.name}" for a in node.names]
            else:
                continue
            for target in targets:
                imported = package_of(target)
                if imported is not None and imported != source:
                    files = graph.setdefault(source, {}).setdefault(imported, set())
                    files.add(path.relative_to(root).as_posix())
    return graph


def layer_violations(
    graph: dict[str, dict[str, set[str]]],
    layers: list[set[str]] = LAYERS,
    upward: dict[tuple[str, str], str] = UPWARD,
) -> list[str]:
    """Every way ``graph`` breaks the declared order, transitively: a package that reaches
    (through any chain of imports) itself, a package of its own layer or one above it."""
    rank = {package: i for i, layer in enumerate(layers) for package in layer}
    problems = [f"{p} is in no declared layer" for p in sorted(set(graph) - set(rank))]
    edges = {
        source: {
            target
            for target, files in targets.items()
            if upward.get((source, target)) not in files or len(files) > 1
        }
        for source, targets in graph.items()
    }
    for source in sorted(edges):
        reached: dict[str, str] = {}  # package: the chain of imports that reaches it
        todo = [(t, f"{source} -> {t}") for t in edges[source]]
        while todo:
            package, chain = todo.pop()
            if package not in reached:
                reached[package] = chain
                todo += [(t, f"{chain} -> {t}") for t in edges.get(package, ())]
        for package, chain in sorted(reached.items()):
            if package == source:
                problems.append(f"cycle: {chain}")
            elif rank.get(package, -1) >= rank.get(source, len(layers)):
                problems.append(f"upward or sideways: {chain}")
    return problems


def test_the_packages_import_each_other_only_down_the_declared_layers() -> None:
    """errors <- models <- engine <- {text, image} <- modalities <- {report, export, retrain}
    <- cli, with service on top: no cycle, and no chain of imports that climbs."""
    graph = package_graph(REPO)
    assert not layer_violations(graph)
    assert set(graph["models"]) == {"errors"}  # nothing from text/, image/ or report/
    assert not {"text", "image", "modalities", "report"} & set(graph["engine"])


def test_the_layer_check_catches_a_cycle_and_an_upward_import(tmp_path: Path) -> None:
    """A synthetic tree: an import inside a function of models/ that reaches text/, which
    imports models/ back, is reported as both an upward chain and a cycle."""
    for package in ("textcnn/models", "textcnn/text", "textcnn/errors"):
        (tmp_path / package).mkdir(parents=True)
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "textcnn" / "__init__.py").write_text("")
    (tmp_path / "textcnn" / "models" / "net.py").write_text(
        "from textcnn.errors import Base\n\n\ndef build():\n    from textcnn.text import vocab\n"
    )
    (tmp_path / "textcnn" / "text" / "vocab.py").write_text("from . import data\n")
    (tmp_path / "textcnn" / "text" / "data.py").write_text("from textcnn.models import net\n")
    graph = package_graph(tmp_path)
    assert graph["models"] == {
        "errors": {"textcnn/models/net.py"},
        "text": {"textcnn/models/net.py"},
    }
    problems = layer_violations(graph)
    assert "upward or sideways: models -> text" in problems
    assert "cycle: models -> text -> models" in problems
    assert "cycle: text -> models -> text" in problems
    # siblings of one layer may not import each other either
    assert layer_violations({"text": {"image": {"x.py"}}}) == ["upward or sideways: text -> image"]
    # the one allowed upward import is allowed only from its file
    assert not layer_violations({"cli": {"service": {"textcnn/cli/serve.py"}}})
    assert layer_violations({"cli": {"service": {"textcnn/cli/train.py"}}})


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
