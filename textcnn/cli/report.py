"""``--report DIR``, shared by ``textcnn evaluate`` and ``textcnn models show``."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from textcnn.report import Report
from textcnn.store import open_store

log = logging.getLogger(__name__)


def add_report_option(p: argparse.ArgumentParser, help: str = "") -> None:
    p.add_argument(
        "--report",
        type=Path,
        metavar="DIR",
        help="also write an HTML report with its PNG figures into DIR (created if absent)" + help,
    )


def model_title(args: argparse.Namespace) -> str:
    """How a report names its model: the bundle directory, or the registry name and version."""
    if getattr(args, "model", None) is not None:
        return str(args.model)
    return f"{args.name} {open_store(args.registry).resolve(args.name, args.version)}"


def write_report(report: Report, directory: Path) -> Path:
    page = report.write(directory)
    log.info("wrote the report %s", page)
    return page
