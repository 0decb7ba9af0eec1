"""``POST /classify``: texts in, labels out, optionally with n-gram explanations."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from service.deps import read_json, serving, shed_if_full
from service.errors import invalid
from service.inputs import TEXT
from service.openapi import error_responses, json_request_body
from service.responses import FastJSONResponse
from service.routing import route
from service.schemas import ClassifyRequest, ClassifyResponse

router = APIRouter(tags=["classify"])

EXAMPLES = {
    "one": {"summary": "One text", "value": {"text": "I was charged twice this month."}},
    "batch": {
        "summary": "A batch, top 2 labels",
        "value": {"texts": ["Where is my parcel?", "The app crashes on start."], "top_k": 2},
    },
    "explain": {
        "summary": "With explanations",
        "value": {"text": "Please cancel my subscription.", "explain": True},
    },
}


@router.post(
    "/classify",
    response_model=ClassifyResponse,
    response_model_exclude_none=True,
    responses=error_responses(404, 413, 415, 422, 503),
    openapi_extra=json_request_body(ClassifyRequest, EXAMPLES),
    summary="Classify one text or a batch",
)
async def classify(request: Request) -> Any:
    """Labels and probabilities per text (highest first); concurrent requests share batches.

    A multi-label model also returns `labels`: every label over its threshold (maybe none);
    its `scores` are each label's own probability.

    With `explain: true`, each result also names the n-grams that won max-over-time pooling
    and pushed the predicted label most, with their exact contribution to its logit.
    """
    settings, manager = serving(request)
    shed_if_full(request, TEXT.name)
    body = await read_json(request, ClassifyRequest)
    texts = body.checked_texts(settings)
    model = route(manager, body.model, TEXT.name)
    threshold = body.threshold
    if threshold is not None and not model.predictor.multi_label:
        raise invalid(("body", "threshold"), f"model {model.name!r} is not multi-label")
    if body.explain:
        if not model.explainable:
            raise invalid(("body", "explain"), f"model {model.name!r} has no explanations")
        explanations = await model.explain(texts, settings.explain_top, threshold)
        results = [
            {**e.prediction.to_dict(body.top_k), "explanation": e.to_dict()} for e in explanations
        ]
    else:
        predictions = await model.predict(texts)
        if threshold is not None:
            predictions = [p.with_threshold(threshold) for p in predictions]
        results = [p.to_dict(body.top_k) for p in predictions]
    content = {"model": model.name, "version": model.version, "results": results}
    return FastJSONResponse(content)  # checked already: no second pass through the schema
