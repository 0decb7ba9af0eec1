"""``GET /models/{name}/report``: the evaluation report of the version being served.

The page is drawn from the evaluation the bundle stored at training (``textcnn.report``) on
the first request for a version, in a worker thread, and kept: a version never changes.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from service.deps import ManagerDep
from service.errors import ModelNotFound
from service.loader import LoadedModel
from service.openapi import error_responses
from service.routing import served
from textcnn.report import Report, ReportError

log = logging.getLogger(__name__)
CACHED = 16  # report pages kept, most recently drawn first


class ReportPages:
    """Report pages by (model, version); one drawn at a time (each costs a second or so)."""

    def __init__(self, size: int = CACHED) -> None:
        self.size = size
        self._pages: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._lock = asyncio.Lock()

    async def page(self, model: LoadedModel) -> str:
        key = (model.name, model.version)
        async with self._lock:
            if key not in self._pages:
                self._pages[key] = await asyncio.to_thread(draw, model)
                while len(self._pages) > self.size:
                    self._pages.popitem(last=False)
            self._pages.move_to_end(key)
            return self._pages[key]


def draw(model: LoadedModel) -> str:
    """The page of ``model``'s stored evaluation; a ``ModelNotFound`` when it has none or
    the record cannot be drawn (a bundle edited by hand, say)."""
    title = f"{model.name} {model.version}"
    try:
        return Report.of_bundle(model.predictor.bundle, title).inline()
    except ReportError as exc:
        raise ModelNotFound(
            f"no report for {title}: {exc}; `textcnn models show --report DIR --data FILE` "
            "writes one from labelled data"
        ) from None
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        log.warning("the stored evaluation of %s cannot be drawn: %r", title, exc)
        raise ModelNotFound(
            f"no report for {title}: its stored evaluation is unreadable ({exc!r})"
        ) from None


async def get_report_pages(request: Request) -> ReportPages:
    return request.app.state.report_pages


router = APIRouter(tags=["reports"])


def _json_errors(*codes: int) -> dict[int | str, dict]:
    """``error_responses`` declared as JSON: this route's own responses are HTML."""
    entries = error_responses(*codes)
    for entry in entries.values():
        entry.pop("model")
        entry["content"] = {
            "application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}
        }
    return entries


@router.get(
    "/models/{name}/report",
    response_class=HTMLResponse,
    responses={
        200: {
            "content": {"text/html": {"example": '<!doctype html>\n<html lang="en">...'}},
            "description": "The report page, its figures inline as data URIs.",
        },
        **_json_errors(503),
        404: {**_json_errors(404)[404], "description": "Unknown model, or no report."},
    },
    summary="Evaluation report of a served model",
)
async def report(
    name: str,
    manager: ManagerDep,
    pages: Annotated[ReportPages, Depends(get_report_pages)],
) -> HTMLResponse:
    """The HTML report (accuracy, macro-F1, per-class scores, confusion matrix, calibration,
    training curves, most confident mistakes, deciding n-grams) of the version served as
    `name`, on the data it was evaluated on when it was trained."""
    return HTMLResponse(await pages.page(served(manager, name)))
