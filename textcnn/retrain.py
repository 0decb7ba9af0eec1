"""Retrain a stored model of any modality: a candidate, an evaluation gate, publishing.

The candidate trains with the current version's stored options (``overrides`` on top), from
scratch, or warm-started from a version's weights. The candidate and the current version are
evaluated on the same gate data, which the candidate never trains or selects epochs on: the
``dev`` data if given, else a stratified, seeded ``holdout`` fraction of the data (which may
hold examples the current version trained on: that favours keeping it). The candidate
becomes current if its accuracy (micro-F1 for multi-label models) is at least the current
version's (or with ``force``); otherwise it is kept as a non-current version, which
``ModelStore.promote`` can make current.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch

from textcnn.engine.bundle import Bundle
from textcnn.engine.config import TrainConfig
from textcnn.engine.distributed import join_process_group, run_on_main
from textcnn.engine.evaluate import evaluate
from textcnn.engine.predictor import Predictor
from textcnn.engine.splits import LabelledData, check_labels, dev_split, distinct_labels, gold
from textcnn.errors import DataError, TextCNNError
from textcnn.modalities import Modality, get_modality
from textcnn.store import KEEP, ModelStore, StoreError

log = logging.getLogger(__name__)
EXIT_REFUSED = 3
HOLDOUT = 0.2  # the default gate fraction
GATE_METRICS = {  # by multi-label: the metrics compared, the first one deciding
    False: ("accuracy", "macro_f1"),
    True: ("micro_f1", "macro_f1", "samples_f1", "subset_accuracy"),
}


@dataclass
class RetrainResult:
    name: str
    base: str
    candidate: str
    promoted: bool
    reason: str
    gate: dict[str, Any]
    current_metrics: dict[str, float] | None
    candidate_metrics: dict[str, float]
    warm_start: str | None
    train_seconds: float
    pruned: list[str]
    multi_label: bool = False

    @property
    def metrics(self) -> tuple[str, ...]:
        return GATE_METRICS[self.multi_label]

    def delta(self) -> dict[str, float] | None:
        if self.current_metrics is None:
            return None
        return {k: self.candidate_metrics[k] - self.current_metrics[k] for k in self.metrics}

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "delta": self.delta()}

    def table(self) -> str:
        """The comparison as aligned text: metric, current, candidate, delta."""
        rows = [("metric", f"current {self.base}", f"candidate {self.candidate}", "delta")]
        delta = self.delta()
        for key in self.metrics:
            current = "n/a" if self.current_metrics is None else f"{self.current_metrics[key]:.4f}"
            change = "n/a" if delta is None else f"{delta[key]:+.4f}"
            rows.append((key, current, f"{self.candidate_metrics[key]:.4f}", change))
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = [
            "  ".join(
                c.rjust(w) if i else c.ljust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
            for row in rows
        ]
        verdict = "promoted" if self.promoted else "not promoted"
        lines.append(f"gate: {self.gate['description']}")
        lines.append(f"{self.name} {self.candidate} {verdict}: {self.reason}")
        return "\n".join(lines)


def check_retrainable(store: ModelStore, name: str, from_version: str | None = None) -> Modality:
    """The modality of ``name``'s current version, once checked to be one retrain handles."""
    base = store.resolve(name)
    if from_version is not None:
        store.resolve(name, from_version)
    modality = store.manifest(name, base).get("modality")
    try:
        return get_modality(modality)
    except KeyError:
        raise StoreError(
            f"model {name!r} holds {modality} models, which retrain cannot train"
        ) from None


def stored_options(bundle: Bundle, overrides: dict[str, Any] | None = None) -> Any:
    """The bundle's training options (``training["options"]``), training fields overridden."""
    modality = get_modality(bundle.modality)
    raw = bundle.training.get("options")
    if not isinstance(raw, dict):
        raise StoreError(
            "this version stores no training options to retrain with; "
            "train a new version from scratch"
        )
    options = modality.options
    known = {f.name for f in fields(options)} - {"train"}
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items() if k in known}
    train_known = {f.name for f in fields(TrainConfig)}
    train = {k: v for k, v in (raw.get("train") or {}).items() if k in train_known}
    try:
        return options(**values, train=TrainConfig(**{**train, **(overrides or {})}))
    except (TypeError, ValueError) as exc:
        raise TextCNNError(f"training options: {exc}") from exc


def label_mismatch(model_labels: list[str], data_labels: list[str]) -> str | None:
    """What differs between two label sets, or None when they are equal."""
    extra = sorted(set(data_labels) - set(model_labels))
    missing = sorted(set(model_labels) - set(data_labels))
    parts = [f"not in the model: {', '.join(extra)}"] if extra else []
    parts += [f"missing from the data: {', '.join(missing)}"] if missing else []
    return "; ".join(parts) or None


def _train_candidate(
    modality: Modality,
    train: LabelledData,
    opts: Any,
    warm: Bundle | None,
    on_epoch: Callable[[dict[str, Any]], None] | None,
) -> Bundle:
    try:
        candidate = modality.train(train, opts, on_epoch=on_epoch, warm_start=warm)
    except (RuntimeError, ValueError, FloatingPointError) as exc:
        raise StoreError(
            f"the candidate failed to train ({exc}); the registry is unchanged"
        ) from exc
    if not all(torch.isfinite(t).all() for t in candidate.model.state_dict().values()):
        raise StoreError(
            "the candidate failed to train: its weights are not finite (try a lower `lr`); "
            "the registry is unchanged"
        )
    return candidate


def decide(
    candidate: dict[str, float],
    current: dict[str, float] | None,
    base: str,
    force: bool,
    metric: str = "accuracy",
) -> tuple[bool, str]:
    """The gate: promote when the candidate's ``metric`` is at least the current's."""
    if force or current is None:
        return True, "--force"
    promote = candidate[metric] >= current[metric]
    sign = ">=" if promote else "<"
    return (
        promote,
        f"{metric} {candidate[metric]:.4f} {sign} {current[metric]:.4f} of {base}",
    )


def _gate_report(bundle: Bundle, gate: LabelledData) -> dict[str, float]:
    report = evaluate(Predictor(bundle), gate.items, gold(gate), gate.source)
    return {k: report[k] for k in GATE_METRICS[bundle.multi_label]}


def _gate_split(
    data: LabelledData, dev: LabelledData | None, holdout: float, seed: int
) -> tuple[LabelledData, LabelledData, str]:
    """Training data, gate data, and a description of the gate."""
    if dev is not None:
        return data, dev, f"{len(dev)} examples of {dev.source}"
    train, gate = dev_split(data, holdout, seed)
    held = f"{len(gate)} examples held out of {data.source} ({holdout:.0%}, seed {seed})"
    return train, gate, held


def _check_labels(
    data: LabelledData, labels: list[str], model: Bundle, what: str, force: bool
) -> str | None:
    """How ``labels`` differ from ``model``'s: an error unless ``force``, where it is returned."""
    mismatch = label_mismatch(model.labels, labels)
    if mismatch and not force:
        raise DataError(
            data.source,
            f"its labels do not match {what} ({', '.join(model.labels)}): {mismatch}. "
            f"`force` trains a fresh model on the data's labels ({', '.join(labels)}) and "
            "makes it current without the gate",
        )
    return mismatch


@dataclass
class _Recipe:
    """What every rank trains the candidate with: rank 0 reads it from the registry and
    sends it to the others, so a registry that changes meanwhile cannot split them."""

    modality: str
    opts: Any
    warm: Bundle | None


@dataclass
class _Plan:
    """What a retrain trains and gates, read from the registry and the data (rank 0's)."""

    base: str
    current: Bundle
    recipe: _Recipe
    warm_start: str | None  # the version ``recipe.warm`` is, if any
    mismatch: str | None
    gate: LabelledData
    description: str


def _plan(
    registry: ModelStore,
    name: str,
    data: LabelledData,
    dev: LabelledData | None,
    from_version: str | None,
    force: bool,
    overrides: dict[str, Any] | None,
    holdout: float,
) -> _Plan:
    """Read-only: the current version, the options, the warm start and the gate split."""
    modality = check_retrainable(registry, name, from_version)
    base = registry.resolve(name)
    current = registry.load_bundle(name, base)
    opts = stored_options(current, overrides)
    labels = distinct_labels(data)
    if dev is not None:
        check_labels(dev, labels)  # names the first offending example
    mismatch = _check_labels(data, labels, current, f"model {name!r} {base}", force)
    warm = registry.load_bundle(name, from_version) if from_version else None
    if warm is not None and _check_labels(data, labels, warm, f"{name!r} {from_version}", force):
        log.warning("labels differ from %s: `force` trains a fresh model", from_version)
        warm = None
    _, gate, description = _gate_split(data, dev, holdout, opts.train.seed)
    recipe = _Recipe(modality.name, opts, warm)
    warm_start = from_version if warm is not None else None
    return _Plan(base, current, recipe, warm_start, mismatch, gate, description)


def retrain(
    registry: ModelStore,
    name: str,
    data: LabelledData,
    dev: LabelledData | None = None,
    from_version: str | None = None,
    force: bool = False,
    overrides: dict[str, Any] | None = None,
    holdout: float = HOLDOUT,
    keep: int = KEEP,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> RetrainResult:
    """Train, gate and publish a candidate for ``name``; see the module docstring.

    Under ``torchrun`` rank 0 alone reads the registry, holds the train lock, gates and
    publishes. It sends its recipe to the other ranks before training, which train the same
    candidate with it (their steps are its collectives), and its result after: a failure on
    rank 0 (a busy lock, a failed gate or publish) stops every rank with its error at once.
    Each rank reads its own ``data``, which must be the same.
    """
    if not 0 < holdout < 1:
        raise TextCNNError(f"`holdout` must be between 0 and 1, got {holdout}")
    if keep < 1:
        raise TextCNNError(f"`keep` must be at least 1, got {keep}")
    join_process_group()
    plans: list[_Plan] = []  # rank 0's

    with contextlib.ExitStack() as held:

        def plan() -> _Recipe:
            held.enter_context(registry.training(name))
            args = (registry, name, data, dev, from_version, force, overrides, holdout)
            plans.append(_plan(*args))
            return plans[0].recipe

        recipe = run_on_main(plan)
        train = _gate_split(data, dev, holdout, recipe.opts.train.seed)[0]
        modality = get_modality(recipe.modality)
        candidate = _train_candidate(modality, train, recipe.opts, recipe.warm, on_epoch)

        def publish() -> RetrainResult:
            return _gate_and_publish(registry, name, plans[0], candidate, force, keep)

        return run_on_main(publish)


def _gate_and_publish(
    registry: ModelStore, name: str, plan: _Plan, candidate: Bundle, force: bool, keep: int
) -> RetrainResult:
    """Rank 0's half after training: the gate, then the candidate published (current if it
    passed and nothing was published meanwhile) and old versions pruned."""
    base, gate = plan.base, plan.gate
    candidate_metrics = _gate_report(candidate, gate)
    current_metrics = None if plan.mismatch else _gate_report(plan.current, gate)
    multi = candidate.multi_label
    metric = GATE_METRICS[multi][0]
    promote, reason = decide(candidate_metrics, current_metrics, base, force, metric)
    gate_info = {"description": plan.description, "examples": len(gate), "data": gate.source}
    candidate.metrics.update({f"gate_{k}": v for k, v in candidate_metrics.items()})
    candidate.training["retrain"] = {
        "base": base,
        "warm_start": plan.warm_start,
        "gate": gate_info,
        "base_gate_metrics": current_metrics,
        "force": force,
    }
    with registry.lock(name):
        now = registry.current(name)
        if promote and now != base:
            promote, reason = False, f"the current version changed from {base} to {now}"
        version = registry.publish(
            name, candidate, parent=plan.warm_start or base, make_current=promote, locked=True
        )
        pruned = registry.prune(name, keep, locked=True)
    if not promote:
        reason += (
            f"; kept as a non-current version (textcnn models promote --registry "
            f"{registry.location} --name {name} --version {version} makes it current)"
        )
    return RetrainResult(
        name=name,
        base=base,
        candidate=version,
        promoted=promote,
        reason=reason,
        gate=gate_info,
        current_metrics=current_metrics,
        candidate_metrics=candidate_metrics,
        warm_start=plan.warm_start,
        train_seconds=round(candidate.training["result"]["seconds"], 3),
        pruned=pruned,
        multi_label=multi,
    )
