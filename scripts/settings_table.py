"""Print the README's configuration table from ``service.settings.Settings``, or --write it.

The table lies in README.md between ``<!-- settings-table -->`` and ``<!-- /settings-table -->``;
``tests/deploy/test_readme.py`` fails when it differs from what this prints.

    python scripts/settings_table.py --write
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
START, END = "<!-- settings-table -->", "<!-- /settings-table -->"


def serve_flags() -> dict[str, str]:
    """Settings field -> the ``textcnn serve`` option that sets it (those that have one)."""
    from service.settings import Settings
    from textcnn.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    options = {a.dest: a.option_strings[0] for a in sub.choices["serve"]._actions}
    return {name: options[name] for name in Settings.model_fields if name in options}


def settings_table() -> str:
    from service.settings import ENV_PREFIX, Settings
    from textcnn.cli.serve import show_default

    flags = serve_flags()
    rows = [
        "| Variable | Default | `textcnn serve` flag | Meaning |",
        "|---|---|---|---|",
    ]
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        flag = f"`{flags[name]}`" if name in flags else ""
        text = (field.description or "").replace("|", "\\|")
        rows.append(
            f"| `{ENV_PREFIX}{name.upper()}` | `{show_default(default)}` | {flag} | {text} |"
        )
    return "\n".join(rows)


def replace_table(readme: str, table: str) -> str:
    head, start, rest = readme.partition(START)
    _, end, tail = rest.partition(END)
    if not start or not end:
        raise SystemExit(f"README.md lacks the {START} ... {END} markers")
    return f"{head}{START}\n{table}\n{END}{tail}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--write", action="store_true", help="update README.md in place")
    args = p.parse_args()
    sys.path.insert(0, str(REPO))
    table = settings_table()
    if not args.write:
        print(table)
        return 0
    readme = REPO / "README.md"
    readme.write_text(replace_table(readme.read_text(encoding="utf-8"), table), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
