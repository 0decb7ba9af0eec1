"""Helpers for the deployment tests: the README's marked blocks, Dockerfile and compose files."""

from __future__ import annotations

import json
import re
import shlex
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import REPO

README = REPO / "README.md"
_BLOCK = "<!-- {name} -->\\s*```[a-z]*\\n(.*?)```\\s*<!-- /{name} -->"
_VAR = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def readme_block(name: str) -> str:
    """The fenced code block between ``<!-- name -->`` and ``<!-- /name -->`` in README.md."""
    text = README.read_text(encoding="utf-8")
    match = re.search(_BLOCK.format(name=re.escape(name)), text, re.S)
    assert match, f"README.md has no code block between <!-- {name} --> and <!-- /{name} -->"
    return match.group(1).strip()


def interpolate(value: Any) -> Any:
    """Compose's ``${VAR:-default}`` and ``${VAR}`` with every variable unset."""
    if isinstance(value, str):
        return _VAR.sub(lambda m: m.group(2) or "", value)
    if isinstance(value, list):
        return [interpolate(v) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v) for k, v in value.items()}
    return value


def compose_defaults(environment: dict[str, Any]) -> dict[str, str]:
    """Variables whose compose value is ``${SAME_NAME:-default}``: name -> default."""
    out = {}
    for key, value in environment.items():
        match = _VAR.fullmatch(str(value))
        if match and match.group(1) == key and match.group(2) is not None:
            out[key] = match.group(2)
    return out


def load_compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [rest for kw, rest in self.instructions if kw == keyword]

    def last(self, keyword: str) -> str | None:
        found = self.all(keyword)
        return found[-1] if found else None

    def env(self) -> dict[str, str]:
        env = {}
        for rest in self.all("ENV"):
            words = shlex.split(rest)
            if "=" not in words[0]:  # legacy `ENV KEY value`
                env[words[0]] = " ".join(words[1:])
                continue
            env.update(word.split("=", 1) for word in words)
        return env


@dataclass
class Dockerfile:
    args: dict[str, str]  # every ARG with its default, whichever stage declares it
    stages: list[Stage]

    @property
    def runtime(self) -> Stage:
        return self.stages[-1]


def parse_dockerfile(path: Path) -> Dockerfile:
    lines, current = [], ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        if raw.lstrip().startswith("#"):
            continue
        if raw.rstrip().endswith("\\"):
            current += raw.rstrip()[:-1] + " "
            continue
        current += raw
        if current.strip():
            lines.append(current.strip())
        current = ""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in lines:
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "ARG":
            name, _, default = rest.partition("=")
            args[name] = default
        if keyword == "FROM":
            words = rest.split()
            name = words[2] if len(words) > 2 and words[1].upper() == "AS" else str(len(stages))
            stages.append(Stage(name, words[0]))
        elif stages:
            stages[-1].instructions.append((keyword, rest))
    return Dockerfile(args, stages)


def exec_form(rest: str) -> list[str]:
    """A JSON-array (exec form) CMD/HEALTHCHECK CMD argument list."""
    assert rest.startswith("["), f"not in exec form: {rest}"
    return json.loads(rest)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
