"""The end of every modality's training: the bundle, its training record and its metrics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import torch
from torch import nn

from textcnn.engine.bundle import Bundle
from textcnn.engine.calibration import calibration, fit_temperature, nll
from textcnn.engine.evaluate import evaluate
from textcnn.engine.multilabel import DEFAULT_THRESHOLD, HEADLINE, label_matrix, tune_thresholds
from textcnn.engine.predictor import Predictor
from textcnn.engine.splits import LabelledData, gold, label_sets
from textcnn.engine.trainer import TrainResult

# stores in a bundle its evaluation on (dev, test) for its report; the modality supplies it
StoreEvaluation = Callable[[Bundle, LabelledData | None, LabelledData | None], None]


def finish_bundle(
    model: nn.Module,
    *,
    arch: str,
    model_config: Any,
    processor: Any,
    labels: list[str],
    options: Any,
    result: TrainResult,
    train: LabelledData,
    dev: LabelledData | None,
    test: LabelledData | None = None,
    training: dict[str, Any] | None = None,
    threshold: float | None = None,
    store_evaluation: StoreEvaluation | None = None,
) -> Bundle:
    """The trained ``model`` as a bundle on the CPU, recording ``options``, the fit's history
    and the example counts (plus ``training``); its metrics are the best epoch, the dev
    accuracy (micro-F1 for multi-label data) when there was dev data, and the report on
    ``test`` (evaluated where the model trained) when given.

    Multi-label data (``label_sets``) makes a multi-label bundle, its per-label thresholds
    tuned on ``dev`` for F1, or all ``threshold`` if given. A single-label bundle gets the
    temperature that calibrates its scores on ``dev`` (``calibrate``), every term of the model
    fitted by then. ``store_evaluation``, when given, records the evaluation a report is
    drawn from (the modality's: ``modalities.evaluation``), where the model trained."""
    bundle = Bundle(
        model=model.eval(),
        arch=arch,
        model_config=model_config,
        processor=processor,
        labels=labels,
        training={
            "options": asdict(options),
            "result": result.to_dict(),
            "examples": {"train": len(train), "dev": len(dev) if dev is not None else 0},
            **(training or {}),
        },
        data_fingerprint=train.fingerprint,
    )
    sets = label_sets(train)
    if sets is not None:
        bundle.training["examples"]["no_label"] = sum(not s for s in sets)
        fixed = DEFAULT_THRESHOLD if threshold is None else threshold
        bundle.set_multi_label([fixed] * len(labels))
        if threshold is None and dev is not None:
            proba = Predictor(bundle).predict_proba(dev.items)
            bundle.set_multi_label(tune_thresholds(proba, label_matrix(gold(dev), labels)))
    elif dev is not None and len(dev):
        bundle.training["calibration"] = calibrate(bundle, dev)
    if dev is not None:
        bundle.metrics[f"dev_{result.dev_metric}"] = result.best_dev_accuracy
    bundle.metrics["best_epoch"] = result.best_epoch
    if store_evaluation is not None:
        store_evaluation(bundle, dev, test)  # where the model trained; for its report
    if test is not None:
        report = evaluate(Predictor(bundle), test.items, gold(test), test.source)
        headline = headline_metric(bundle)
        bundle.metrics["test"] = report
        bundle.metrics[f"test_{headline}"] = report[headline]
    bundle.model = model.cpu()
    return bundle


def headline_metric(bundle: Bundle) -> str:
    """The report entry that sums a model up: accuracy, or micro-F1 for multi-label models."""
    return HEADLINE if bundle.multi_label else "accuracy"


def calibrate(bundle: Bundle, dev: LabelledData) -> dict[str, Any]:
    """Fit and set ``bundle``'s temperature on ``dev`` (single-label); returns what to record
    of it: the temperature, and the dev data's NLL and expected calibration error before and
    after (the argmax, so accuracy, does not move)."""
    logits = Predictor(bundle).predict_logits(dev.items).float()
    index = {label: i for i, label in enumerate(bundle.labels)}
    targets = torch.tensor([index[label] for label in gold(dev)])
    temperature = fit_temperature(logits, targets)
    bundle.set_temperature(temperature)

    def ece(t: float) -> float:
        confidence, predicted = (logits / t).softmax(dim=1).max(dim=1)
        return calibration(confidence, predicted == targets)["ece"]

    return {
        "temperature": temperature,
        "dev_nll": {"before": nll(logits, targets), "after": nll(logits, targets, temperature)},
        "dev_ece": {"before": ece(1.0), "after": ece(temperature)},
    }
