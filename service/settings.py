"""Service settings: environment variables ``TEXTCNN_<NAME>``, with ``textcnn serve`` flags on top.

This class is the single source of truth for the service's configuration: every setting has
a description here, and the README and deployment files follow it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.api_keys import key_digests
from service.limits import QueueLimits

# No setting may allow more texts per request: longer lists fail at the first extra item,
# before the items are validated one by one (see ``ClassifyRequest.texts``).
MAX_TEXTS_HARD_LIMIT = 10_000

ENV_PREFIX = "TEXTCNN_"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    # -- where models come from ----------------------------------------------------------
    registry: str | None = Field(
        None,
        description="Model registry: a directory, or `s3://bucket/prefix` on S3-compatible "
        "storage (endpoint and credentials from the standard AWS settings, such as "
        "`AWS_ENDPOINT_URL`; versions are cached in $TEXTCNN_CACHE/registry). The service "
        "serves the current version of each model in it and follows its pointer.",
    )
    bundles: dict[str, Path] = Field(
        default_factory=dict,
        description="Plain bundle directories by model name, as JSON "
        '(`{"text": "/models/support"}`); reloaded when the directory is replaced.',
    )
    models: list[str] | None = Field(
        None,
        description='Names of the models to serve, as JSON (`["text", "image"]`); all of '
        "them must be loaded for /ready. Default: every model in the registry and in "
        "`bundles`.",
    )
    text_model: str = Field("text", description="The model /classify uses by default.")
    image_model: str = Field("image", description="The model /classify-image uses by default.")
    reload_interval: float = Field(
        2.0,
        ge=0,
        description="Seconds between checks for a new current version (0: never reload).",
    )
    device: str = Field("cpu", description="Torch device the models run on (cpu, cuda, cuda:N).")

    # -- inference -----------------------------------------------------------------------
    max_batch_size: int = Field(
        64,
        ge=1,
        description="Most inputs in one forward pass; concurrent requests are coalesced up to "
        "it and larger requests split (1: one forward per request).",
    )
    sentence_cache_mib: float = Field(
        64,
        ge=0,
        description="Memory for the sentence embeddings of a `--sentence-encoder` model's "
        "served texts, per worker, least recently used evicted (a repeated text is not "
        "encoded again; hits and misses in /metrics; 0: off).",
    )
    max_wait_ms: float = Field(
        0.0,
        ge=0,
        description="Longest a request waits for company before its batch runs. With 0 a batch "
        "runs as soon as the model is free, taking everything that queued meanwhile.",
    )
    precision: Literal["fp32", "bf16", "int8"] = Field(
        "fp32",
        description="Inference precision. bf16 runs convolutions and linear layers under "
        "bfloat16 autocast (PyTorch): about 3x faster convolutions on CPUs with AVX512-BF16 "
        "or AMX (slower on others), probabilities that differ in the third digit. int8 runs "
        "text models' convolutions and every linear layer as int8 matrix products in ONNX "
        "Runtime (CPU only, unsigned weights): 1.1x faster forward passes than float32's "
        "convolutions on an AVX2 CPU for a default-recipe model, probabilities within about "
        "0.02 of float32's (image convolutions stay float32).",
    )
    runtime: Literal["onnx", "torch"] = Field(
        "onnx",
        description="What runs forward passes on the CPU: ONNX Runtime (each model exported "
        "once per version and cached in $TEXTCNN_CACHE/onnx; under load about 40 % of PyTorch's "
        "CPU time per batch) or PyTorch. PyTorch serves any model on a GPU, in bf16, "
        "or that cannot be exported (the log and /models say so).",
    )
    token_table_mb: float = Field(
        256.0,
        ge=0,
        description="Run a float32 text model in ONNX Runtime with its embeddings and "
        "convolutions folded into one table of per-token filter responses when that table "
        "takes at most this many MiB per worker: a forward pass of lookups and sums, 4.5x "
        "faster than the convolutions for the default recipe (162 MiB for its MR model, "
        "against 37 MiB of embeddings). 0: never.",
    )
    torch_threads: int = Field(
        1,
        ge=1,
        description="Intra-op threads per serving process (worker), in PyTorch or ONNX Runtime.",
    )
    inference_threads: int = Field(
        1, ge=1, description="Threads running forward passes in each serving process."
    )
    inline_batch_ms: float = Field(
        2.0,
        ge=0,
        description="A batch that the model's recent batches say takes less than this runs on "
        "the event loop itself instead of an inference thread, which saves the hand-off's "
        "CPU; longer ones run in a thread so that the loop keeps answering, as does every "
        "batch of a model with a sentence encoder, whose cost no average foresees. 0: every "
        "batch in a thread.",
    )
    explain_top: int = Field(
        5, ge=1, description="N-grams reported per input when a request asks for explanations."
    )

    # -- input limits --------------------------------------------------------------------
    max_batch_texts: int = Field(
        256, ge=1, le=MAX_TEXTS_HARD_LIMIT, description="Most texts in one /classify request."
    )
    max_text_chars: int = Field(10_000, ge=1, description="Longest text accepted, in characters.")
    max_body_bytes: int = Field(
        4 * 1024 * 1024, ge=1024, description="Largest request body, except image uploads."
    )
    max_image_bytes: int = Field(
        10 * 1024 * 1024, ge=1024, description="Largest image upload (/classify-image body)."
    )
    max_image_pixels: int = Field(
        4096 * 4096,
        ge=1,
        description="Largest image accepted, in pixels (width x height), checked from the "
        "header before decoding: decompression bombs are refused.",
    )

    # -- overload ------------------------------------------------------------------------
    max_queue_inputs: int = Field(
        1024,
        ge=1,
        description="Most inputs waiting for a forward pass, per model and worker; a request "
        "that would pass it is answered 503 with Retry-After at once (a request may always "
        "be served alone).",
    )
    max_queue_bytes: int = Field(
        128 * 1024 * 1024,
        ge=1,
        description="Most bytes of images (characters of texts) waiting for a forward pass, "
        "per model and worker; past it, 503 with Retry-After.",
    )
    max_queue_ms: float = Field(
        10_000.0,
        ge=0,
        description="Longest a request waits for its first forward pass; past it, it is "
        "answered 503 with Retry-After rather than late (0: no deadline).",
    )
    retry_after: int = Field(
        1, ge=0, description="Seconds a shed (503) request is told to wait (Retry-After)."
    )
    limit_concurrency: int | None = Field(
        None,
        ge=1,
        description="uvicorn's limit: most connections and tasks per worker before uvicorn "
        "itself answers 503 (plain text, no Retry-After). A last line behind the queue "
        "limits; set it above your clients' concurrency. Default: no limit.",
    )

    # -- access --------------------------------------------------------------------------
    api_keys: list[SecretStr] = Field(
        [],
        description='API keys, as JSON (`["key1"]`): with any key (here or in '
        "`api_keys_file`) every route but the open ones (README, API keys) needs "
        "`Authorization: Bearer <key>`; a key that cannot be used (empty, blank) stops the "
        "start. Default: no authentication.",
    )
    api_keys_file: Path | None = Field(
        None,
        description="A file of API keys, one a line (`#` comments); a line `sha256:<hex>` "
        "holds a key's SHA-256 instead of the key. A file that is missing, holds no key or "
        "a malformed line stops the start.",
    )
    metrics_auth: bool = Field(
        False, description="Require an API key for /metrics too (when keys are configured)."
    )

    # -- server (used by `textcnn serve`) ------------------------------------------------
    host: str = Field("127.0.0.1", description="Address uvicorn binds.")
    port: int = Field(8000, ge=0, le=65535, description="Port uvicorn binds.")
    workers: int = Field(
        1,
        ge=1,
        description="Uvicorn worker processes; each loads every model and exposes its own "
        "/metrics.",
    )
    log_level: Literal["critical", "error", "warning", "info", "debug"] = Field(
        "info", description="Uvicorn and service log level."
    )
    page: bool = Field(
        True,
        description="Serve the web page at / (model picker, text and image classification, "
        "batch table); the API is the same without it.",
    )
    benchmark_route: bool = Field(
        False,
        description="Add POST /bench/noop, which validates a /classify body and returns a "
        "constant: the ceiling `bench/serve_benchmark.py` measures. Off in production.",
    )

    @field_validator("registry", mode="before")
    @classmethod
    def _registry_text(cls, value: object) -> object:
        return str(value) if isinstance(value, Path) else value  # s3:// is no Path

    @model_validator(mode="after")
    def _int8_runs_in_onnx(self) -> Settings:
        on_cpu = self.device.split(":")[0] == "cpu"
        if self.precision == "int8" and (self.runtime != "onnx" or not on_cpu):
            raise ValueError(
                "TEXTCNN_PRECISION=int8 runs in ONNX Runtime on the CPU: it needs "
                "TEXTCNN_RUNTIME=onnx and TEXTCNN_DEVICE=cpu (use fp32 or bf16 on a GPU)"
            )
        return self

    @model_validator(mode="after")
    def _needs_models(self) -> Settings:
        if self.registry is None and not self.bundles:
            raise ValueError(
                "no models to serve: set TEXTCNN_REGISTRY (--registry) or TEXTCNN_BUNDLES "
                "(--bundle NAME=DIR)"
            )
        return self

    @model_validator(mode="after")
    def _keys_usable(self) -> Settings:
        """Configured keys that cannot be used stop the start (``service.api_keys``)."""
        key_digests([k.get_secret_value() for k in self.api_keys], self.api_keys_file)
        return self

    def queue_limits(self) -> QueueLimits:
        """Each model's batcher queue limits (``service.limits``)."""
        return QueueLimits(
            self.max_queue_inputs,
            self.max_queue_bytes,
            self.max_queue_ms / 1000,
            self.retry_after,
        )

    def default_models(self) -> dict[str, str]:
        """The model each route answers with when a request names none, by what it receives."""
        return {"text": self.text_model, "image": self.image_model}
