"""The end of every modality's training: the bundle, its training record and its metrics."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from torch import nn

from textcnn.engine.bundle import Bundle
from textcnn.engine.evaluate import evaluate
from textcnn.engine.multilabel import DEFAULT_THRESHOLD, HEADLINE, label_matrix, tune_thresholds
from textcnn.engine.predictor import Predictor
from textcnn.engine.splits import LabelledData, gold, label_sets
from textcnn.engine.trainer import TrainResult
from textcnn.report.evaluation import store_evaluation


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
) -> Bundle:
    """The trained ``model`` as a bundle on the CPU, recording ``options``, the fit's history
    and the example counts (plus ``training``); its metrics are the best epoch, the dev
    accuracy (micro-F1 for multi-label data) when there was dev data, and the report on
    ``test`` (evaluated where the model trained) when given.

    Multi-label data (``label_sets``) makes a multi-label bundle, its per-label thresholds
    tuned on ``dev`` for F1, or all ``threshold`` if given."""
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
    if dev is not None:
        bundle.metrics[f"dev_{result.dev_metric}"] = result.best_dev_accuracy
    bundle.metrics["best_epoch"] = result.best_epoch
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
