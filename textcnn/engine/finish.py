"""The end of every modality's training: the bundle, its training record and its metrics."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from torch import nn

from textcnn.engine.bundle import Bundle
from textcnn.engine.evaluate import evaluate
from textcnn.engine.predictor import Predictor
from textcnn.engine.splits import LabelledData
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
) -> Bundle:
    """The trained ``model`` as a bundle on the CPU, recording ``options``, the fit's history
    and the example counts (plus ``training``); its metrics are the best epoch, the dev
    accuracy when there was dev data, and the report on ``test`` (evaluated where the model
    trained) when given."""
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
    if dev is not None:
        bundle.metrics["dev_accuracy"] = result.best_dev_accuracy
    bundle.metrics["best_epoch"] = result.best_epoch
    store_evaluation(bundle, dev, test)  # where the model trained; for its report
    if test is not None:
        report = evaluate(Predictor(bundle), test.items, test.labels, test.source)
        bundle.metrics["test"] = report
        bundle.metrics["test_accuracy"] = report["accuracy"]
    bundle.model = model.cpu()
    return bundle
