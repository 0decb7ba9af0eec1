"""Model loading: the manager loads each served model (found by ``service.sources``), follows
new versions and swaps them in without downtime (``service.routing`` picks the one to answer).

Every ``reload_interval`` seconds the manager reads each model's current version (a small JSON
pointer in the registry, or the ``config.json`` of a plain bundle directory). A new version is
loaded and checked (checksums, shapes, one forward pass) in a thread, then swapped in with one
reference assignment: requests already holding the old ``LoadedModel`` finish on it, later
ones get the new one. A version that fails is refused, logged, remembered (not retried) and
reported by /models; the old version keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import torch

from service.batching import Batcher
from service.errors import UnsupportedMedia
from service.metrics import Metrics
from service.settings import Settings
from service.sources import ModelSource, configured_sources
from textcnn.engine.bundle import Bundle
from textcnn.engine.predictor import Prediction, Predictor
from textcnn.errors import InputError
from textcnn.export.onnx_export import token_table_bytes
from textcnn.export.runtime import OnnxForward, onnx_forward
from textcnn.modalities import Modality, get_modality
from textcnn.store import VersionRefused
from textcnn.text import sentence_term

log = logging.getLogger(__name__)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def check_predictor(predictor: Predictor) -> None:
    """Every term of the model on one example, as requests run them; raises if one fails or
    the model and its labels disagree. The network (its n-gram scores included) runs on
    what serves it; a term of the raw input (the sentence encoder) runs on logits that are
    unsure of every label, so that its gate routes the example. That also loads and warms
    the encoder, which no request then waits for."""
    example = get_modality(predictor.modality).example_input()
    logits = predictor.logits_from_tensor(predictor.encode([example]))
    if logits.shape != (1, len(predictor.labels)):
        raise ValueError(
            f"the model outputs {tuple(logits.shape[1:])} scores for {len(predictor.labels)} labels"
        )
    scores = predictor.with_input_term(torch.zeros_like(logits), [example])
    if not torch.isfinite(scores).all():
        raise ValueError("the model's scores of an example are not finite")


def cpu_runtime(bundle: Bundle, settings: Settings, what: str) -> OnnxForward | None:
    """The ONNX Runtime forward pass ``settings.runtime`` asks for, or None for PyTorch's:
    on a GPU, in bf16, or for a model that cannot be exported (logged, and served anyway, in
    float32 if it was to run in int8). A float32 text model runs as a token table when it
    fits ``settings.token_table_mb``, and with its convolutions when that export fails."""
    if settings.runtime != "onnx":
        return None
    if torch.device(settings.device).type != "cpu" or settings.precision == "bf16":
        log.info("model %s: served by PyTorch (%s, %s)", what, settings.device, settings.precision)
        return None
    int8 = settings.precision == "int8"
    table = token_table_bytes(bundle)
    token_table = not int8 and 0 < table <= settings.token_table_mb * 2**20
    try:
        if token_table:
            try:
                return onnx_forward(bundle, settings.torch_threads, token_table=True)
            except Exception as exc:  # e.g. no memory for the table: the convolutions may fit
                log.warning("model %s: served without a token table: %s", what, exc)
        return onnx_forward(bundle, settings.torch_threads, int8=int8)
    except Exception as exc:  # a missing package, a refused graph, an unwritable cache
        log.warning("model %s: served by PyTorch, not ONNX Runtime: %s", what, exc)
        return None


def freeze_heap() -> None:
    """Move every live object out of the garbage collector's sight (``gc.freeze``).

    The models, torch and the web stack leave ~200k long-lived objects; without this, each
    full collection walks them all (~100 ms) in the middle of serving requests.
    """
    gc.collect()
    gc.freeze()


@dataclass(eq=False)
class LoadedModel:
    """One loaded version of a model, with its own batcher."""

    name: str
    version: str
    predictor: Predictor
    batcher: Batcher[Prediction]
    executor: Executor
    loaded_at: str = field(default_factory=_now)

    @functools.cached_property
    def modality(self) -> Modality:
        """The registered modality (``predictor.modality`` is its name); looked up once, as
        every request's queue check asks for it."""
        return get_modality(self.predictor.modality)

    async def predict(self, items: Sequence[Any]) -> list[Prediction]:
        return await self.batcher.submit(items)

    @property
    def explainable(self) -> bool:
        return self.modality.explainable(self.predictor)

    async def explain(
        self, items: Sequence[Any], top: int, threshold: float | None = None
    ) -> list[Any]:
        """Explained predictions; ``threshold`` replaces a multi-label model's thresholds."""
        loop = asyncio.get_running_loop()
        explain = self.modality.explain
        predictor = (
            self.predictor if threshold is None else self.predictor.with_threshold(threshold)
        )
        return await loop.run_in_executor(self.executor, explain, predictor, items, top)


@dataclass
class ModelState:
    name: str
    source: ModelSource | None
    loaded: LoadedModel | None = None
    error: str | None = None
    refused: dict[str, tuple[str, str]] = field(default_factory=dict)  # version: (error, when)


class ModelManager:
    """The state of every served model, kept up to date with its source (see above)."""

    def __init__(self, settings: Settings, metrics: Metrics, executor: Executor) -> None:
        self.settings = settings
        self.metrics = metrics
        self.executor = executor
        self.states: dict[str, ModelState] = {}
        self.error: str | None = None  # why the models to serve could not be listed
        self._lock = asyncio.Lock()
        self._poller: asyncio.Task | None = None
        # the sentence term's served embeddings (a process-wide cache, sized by the settings)
        sentence_term.SERVED.resize(int(settings.sentence_cache_mib * 2**20))
        sentence_term.SERVED.observe = metrics.count_sentence_lookups

    # -- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        """Load every model once, then follow new versions in the background."""
        await self.refresh()
        if self.settings.reload_interval > 0:
            self._poller = asyncio.create_task(self._poll())

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.settings.reload_interval)
            try:
                await self.refresh()
            except Exception:  # the poller must outlive any surprise
                log.exception("checking for new model versions failed")

    # -- finding and loading versions ----------------------------------------------------
    def _scan(
        self,
    ) -> tuple[dict[str, tuple[ModelSource | None, str | None, str | None]], str, set[str]]:
        """Each model's source and current version, or why it has none, and the models whose
        pointer could not be read (runs in a thread)."""
        try:
            sources = configured_sources(self.settings)
        except Exception as exc:
            return {}, str(exc), set()
        found, unread = {}, set()
        for name, source in sources.items():
            if source is None:
                found[name] = (None, None, "not in the registry or the configured bundles")
                continue
            try:
                version = source.current()
            except Exception as exc:
                found[name] = (source, None, f"cannot read its current version: {exc}")
                unread.add(name)
                continue
            error = None if version else "the registry has no current version of it"
            found[name] = (source, version, error)
        return found, "", unread

    async def refresh(self) -> None:
        """Look for new current versions once; load and swap in each one that works."""
        async with self._lock:
            found, error, unread = await asyncio.to_thread(self._scan)
            if error and error != self.error:
                log.error("cannot list the models to serve: %s", error)
            self.error = error or None
            loaded = False
            for name, (source, version, problem) in found.items():
                state = self.states.setdefault(name, ModelState(name, source))
                state.source = source
                if problem or version is None:
                    if problem != state.error:
                        log.warning("model %s: %s", name, problem)
                    state.error = problem
                    if name in unread:
                        self.metrics.set_problem(name, "registry")
                    continue
                if state.loaded is not None and state.loaded.version == version:
                    state.error = None
                    self.metrics.set_problem(name, None)
                    continue
                if version in state.refused:
                    continue
                loaded |= await self._load(state, source, version)
            self.metrics.registry_up.set(0 if error or unread else 1)
            if loaded:
                freeze_heap()

    async def _load(self, state: ModelState, source: ModelSource, version: str) -> bool:
        def load() -> Predictor:
            bundle = source.load(version, self.settings.device)
            runtime = cpu_runtime(bundle, self.settings, f"{state.name} {version}")
            precision = "bf16" if self.settings.precision == "bf16" else "fp32"  # PyTorch's
            predictor = Predictor(bundle, precision=precision, runtime=runtime)
            check_predictor(predictor)
            return predictor

        try:
            predictor = await asyncio.to_thread(load)
        except Exception as exc:
            message = str(exc) or type(exc).__name__
            state.refused[version] = (message, _now())
            state.error = f"version {version} refused: {message}"
            self.metrics.reloads.labels(state.name, "refused").inc()
            reason = "verification" if isinstance(exc, VersionRefused) else "load"
            self.metrics.set_problem(state.name, reason)
            served = state.loaded.version if state.loaded else "nothing"
            log.error(
                "model %s: refused version %s (%s); still serving %s",
                state.name,
                version,
                message,
                served,
            )
            return False
        old, state.loaded = state.loaded, self._wrap(state.name, version, predictor)
        state.error = None
        self.metrics.set_problem(state.name, None)
        self.metrics.reloads.labels(state.name, "loaded").inc()
        if old is not None:
            self.metrics.retire_version(old.name, old.version, old.predictor.modality)
        self.metrics.model_version.labels(state.name, version, predictor.modality).set(1)
        log.info(
            "model %s: serving version %s (was %s)",
            state.name,
            version,
            old.version if old else "nothing",
        )
        return True

    def _wrap(self, name: str, version: str, predictor: Predictor) -> LoadedModel:
        serving = get_modality(predictor.modality).serving(predictor)

        def encode(items: Sequence[Any]) -> Any:
            try:
                return serving.encode(items)
            except InputError as exc:
                raise UnsupportedMedia(str(exc)) from exc

        s = self.settings
        batcher = Batcher(
            encode,
            serving.collate,
            serving.forward,
            self.executor,
            max_batch_size=s.max_batch_size,
            max_wait=s.max_wait_ms / 1000,
            on_batch=lambda size, seconds: self._observe_batch(name, size, seconds),
            on_queue=self.metrics.queue_depth.labels(name).inc,
            limits=s.queue_limits(),
            on_shed=lambda reason: self.metrics.shed.labels(name, reason).inc(),
            # never on the event loop with a sentence term: a batch costs ~0.2 ms a confident
            # text but 6-16 ms each text it routes to the encoder, which no average foresees
            inline_seconds=0 if predictor.input_term is not None else s.inline_batch_ms / 1000,
        )
        return LoadedModel(name, version, predictor, batcher, self.executor)

    def _observe_batch(self, name: str, size: int, seconds: float) -> None:
        self.metrics.batch_size.labels(name).observe(size)
        self.metrics.inference_seconds.labels(name).observe(seconds)
