"""Every request and response body of the REST API (the v2 protocol's are in
``service.protocol_v2``), with the examples /docs shows."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from service.errors import invalid
from service.inputs import TEXT, InputRejected, not_blank
from service.settings import MAX_TEXTS_HARD_LIMIT, Settings

NonBlankText = Annotated[str, AfterValidator(not_blank)]


# -- /classify ---------------------------------------------------------------------------
class ClassifyRequest(BaseModel):
    """One text (``text``) or a batch (``texts``) to classify with a text model."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"text": "I was charged twice for my subscription this month."},
                {"texts": ["Where is my parcel?", "The app crashes on start."], "top_k": 2},
                {"text": "Please cancel my order.", "model": "text", "explain": True},
            ]
        },
    )

    text: NonBlankText | None = Field(None, description="One text; give this or `texts`.")
    texts: list[NonBlankText] | None = Field(
        None,
        min_length=1,
        max_length=MAX_TEXTS_HARD_LIMIT,  # the configurable limit is checked after parsing
        description="Several texts, classified in one request.",
    )
    top_k: int | None = Field(
        None, ge=1, description="Only the k most likely labels in `scores` (default: all)."
    )
    model: str | None = Field(
        None, min_length=1, description="A text model's name (default: the service's)."
    )
    explain: bool = Field(
        False, description="Add, per input, the n-grams that pushed the predicted label most."
    )
    threshold: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Multi-label models only: one decision threshold for every label instead "
        "of the model's tuned ones.",
    )

    @model_validator(mode="after")
    def _one_input(self) -> ClassifyRequest:
        if (self.text is None) == (self.texts is None):
            raise ValueError("give exactly one of `text` (a string) or `texts` (a list)")
        return self

    def checked_texts(self, settings: Settings) -> list[str]:
        """The texts to classify; a 422 naming the field if one is over the service limits."""
        texts = [self.text] if self.text is not None else self.texts or []
        try:
            return TEXT.checked(texts, settings)
        except InputRejected as exc:
            loc = ("body", "text") if self.text is not None else ("body", "texts")
            at = () if self.text is not None or exc.index is None else (exc.index,)
            raise invalid((*loc, *at), str(exc), exc.kind) from None


class LabelScore(BaseModel):
    label: str
    score: float = Field(
        description="Probability, 0 to 1 (multi-label models: each label's own sigmoid, "
        "not normalised to sum to 1)."
    )


class NgramContribution(BaseModel):
    ngram: str = Field(description="The span's tokens, joined.")
    start: int = Field(description="Index of its first token in `tokens`.")
    end: int = Field(description="Index after its last token (exclusive).")
    contribution: float = Field(description="What the span adds to the predicted label's logit.")


class LabelExplanation(BaseModel):
    """One predicted label's logit as its bias plus the contributions of winning spans."""

    label: str
    logit: float
    bias: float
    ngrams: list[NgramContribution]


class Explanation(BaseModel):
    """Why the model chose the label: exact, from max-over-time pooling."""

    tokens: list[str] = Field(description="The input as the model saw it (tokenised, truncated).")
    logit: float = Field(description="The predicted label's logit.")
    bias: float = Field(
        description="Its bias; logit = bias + the contributions of all winning spans "
        "(only the largest are listed)."
    )
    ngrams: list[NgramContribution] = Field(description="Top spans, largest contribution first.")
    labels: list[LabelExplanation] | None = Field(
        None, description="Multi-label models: the same for each label in `labels`."
    )


class ClassifyResult(BaseModel):
    label: str = Field(description="The most likely label.")
    score: float = Field(description="Its probability.")
    labels: list[str] | None = Field(
        None,
        description="Multi-label models: every label at or over its threshold, highest score "
        "first (maybe none).",
    )
    scores: list[LabelScore] = Field(description="Labels and probabilities, highest first.")
    explanation: Explanation | None = Field(None, description="With `explain: true` only.")


class ClassifyResponse(BaseModel):
    """Predictions, one per input, in input order."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "model": "text",
                    "version": "v3",
                    "results": [
                        {
                            "label": "billing",
                            "score": 0.93,
                            "scores": [
                                {"label": "billing", "score": 0.93},
                                {"label": "cancellation", "score": 0.05},
                            ],
                        }
                    ],
                }
            ]
        }
    )

    model: str = Field(description="The model's name.")
    version: str = Field(description="The model version that answered.")
    results: list[ClassifyResult]


# -- system ------------------------------------------------------------------------------
class HealthResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})

    status: Literal["ok"] = "ok"


class ReadinessResponse(BaseModel):
    """Whether every configured model is loaded, and what keeps one from its current version."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"ready": True, "models": {"text": "v3", "image": "v1"}},
                {
                    "ready": False,
                    "models": {"text": "v3", "image": None},
                    "errors": {"image": "cannot read its current version: ..."},
                },
                {
                    "ready": False,
                    "models": {},
                    "error": "cannot reach the registry s3://models/prod at http://s3:8333: ...",
                },
                {"ready": True},
            ]
        }
    )

    ready: bool = Field(description="Whether every configured model is loaded.")
    models: dict[str, str | None] | None = Field(
        None,
        description="Served version per model (null: none); this and the errors only with a "
        "valid API key when keys are configured.",
    )
    errors: dict[str, str] | None = Field(
        None,
        description="Why a model is not served at its current version (a version refused, a "
        "pointer that cannot be read), by model; the one served before keeps serving.",
    )
    error: str | None = Field(
        None, description="Why the models to serve could not be listed (the registry)."
    )


class RefusedVersion(BaseModel):
    version: str
    error: str = Field(description="Why it was not served.")
    at: str = Field(description="When it was refused (UTC, ISO 8601).")


class ModelInfo(BaseModel):
    name: str
    source: Literal["registry", "bundle", "none"] = Field(
        description="Where it is read from: the model registry or a plain bundle directory."
    )
    state: Literal["serving", "unavailable"]
    version: str | None = Field(description="The version served (null: none loaded).")
    modality: str | None = None
    arch: str | None = None
    runtime: Literal["onnxruntime", "torch"] | None = Field(
        None, description="What runs its forward passes (see TEXTCNN_RUNTIME)."
    )
    precision: Literal["fp32", "bf16", "int8"] | None = Field(
        None, description="The precision they run in (see TEXTCNN_PRECISION)."
    )
    token_table: bool = Field(
        False,
        description="Whether a text model's convolutions run as lookups in a token table "
        "(see TEXTCNN_TOKEN_TABLE_MB).",
    )
    explainable: bool = Field(
        False,
        description='Whether `"explain": true` works for it (text TextCNNs without a '
        "sentence encoder).",
    )
    sentence_encoder: str | None = Field(
        None,
        description="A text model's sentence encoder, whose term beside the network costs an "
        "encoder forward per text (`textcnn train --sentence-encoder`); null: none.",
    )
    labels: list[str] = Field(default_factory=list)
    multi_label: bool = Field(False, description="Whether each input may get several labels.")
    thresholds: list[float] | None = Field(
        None, description="Multi-label models: the decision threshold of each label, in order."
    )
    temperature: float | None = Field(
        None,
        description="Single-label models: what the logits are divided by before the softmax, "
        "fitted on dev data so that the scores are calibrated (1: none).",
    )
    metrics: dict[str, Any] = Field(default_factory=dict, description="From training.")
    loaded_at: str | None = Field(None, description="When this version was loaded (UTC).")
    limits: dict[str, int | float | list[str] | None] | None = Field(
        None,
        description="Input limits (texts and characters, or image bytes and pixels) and "
        "queue limits (inputs, bytes, milliseconds), per worker.",
    )
    error: str | None = Field(None, description="The latest problem finding or loading it.")
    refused: list[RefusedVersion] = Field(
        default_factory=list, description="Versions that failed to load and are not served."
    )


class ModelsResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "defaults": {"text": "text", "image": "image"},
                    "models": [
                        {
                            "name": "text",
                            "source": "registry",
                            "state": "serving",
                            "version": "v2",
                            "modality": "text",
                            "arch": "textcnn",
                            "labels": ["billing", "shipping"],
                            "metrics": {"test_accuracy": 0.92},
                            "loaded_at": "2025-01-01T12:00:00+00:00",
                            "limits": {
                                "max_texts": 256,
                                "max_text_chars": 10000,
                                "max_tokens": 400,
                                "max_body_bytes": 4194304,
                            },
                            "error": "version v3 refused: checksum mismatch",
                            "refused": [
                                {
                                    "version": "v3",
                                    "error": "model.safetensors: checksum mismatch",
                                    "at": "2025-01-02T08:00:00+00:00",
                                }
                            ],
                        }
                    ],
                }
            ]
        }
    )

    defaults: dict[str, str] = Field(description="The model each route uses by default.")
    models: list[ModelInfo]
    error: str | None = Field(None, description="Why the models could not be listed, if so.")


# -- errors ------------------------------------------------------------------------------
class ErrorResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"detail": "unknown model 'x'"}]})

    detail: str


class FieldError(BaseModel):
    loc: list[str | int] = Field(description="Where: `body`, then the field path.")
    msg: str
    type: str


class ValidationErrorResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "detail": [
                        {
                            "loc": ["body", "texts", 1],
                            "msg": "Value error, text is empty or whitespace only",
                            "type": "value_error",
                        }
                    ],
                    "message": "body.texts.1: Value error, text is empty or whitespace only",
                }
            ]
        }
    )

    detail: list[FieldError]
    message: str = Field(description="The errors in one line.")
