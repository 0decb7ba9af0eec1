"""What a report shows, as one JSON-ready record: metrics, calibration, mistakes, n-grams.

The record is computed where the data is (``textcnn evaluate``, or at the end of training on
the test split, else the dev split) and stored in the bundle's ``config.json`` under
``evaluation``, so that a report can be drawn later (``textcnn models show --report``, the
service's ``GET /models/{name}/report``) without the data. Its size is bounded whatever the
data set's: calibration is binned, mistakes and n-grams are the top few.

The record is the modality's business where it differs by input: each mistaken item appears
as its modality shows it (``Modality.report_item``), and explanations come from the modality
(``Modality.explain``), so a new kind of input edits its own module only. A modality's
``train`` stores the record in the bundle it trains (``store_evaluation``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

import torch

from textcnn.engine.bundle import Bundle
from textcnn.engine.calibration import calibration
from textcnn.engine.evaluate import evaluate
from textcnn.engine.predictor import Predictor
from textcnn.engine.splits import LabelledData
from textcnn.errors import TextCNNError
from textcnn.modalities.registry import Modality, get_modality

EVALUATION_KEY = "evaluation"  # where a bundle's config.json keeps the record
MISTAKES = 12  # the most confident mistakes kept
NGRAMS = 8  # deciding n-grams kept per class
EXPLAIN_CHUNK = 256  # texts explained per forward pass


def _where(data: LabelledData, index: int) -> str:
    path, line = data.locate(index)
    return f"{path}:{line}" if line is not None else str(path)


def _explanations(
    modality: Modality, predictor: Predictor, items: Sequence[Any], top: int
) -> list[Any]:
    out: list[Any] = []
    for start in range(0, len(items), EXPLAIN_CHUNK):
        out += modality.explain(predictor, items[start : start + EXPLAIN_CHUNK], top)
    return out


def deciding_ngrams(
    predictor: Predictor, items: Sequence[Any], top: int = NGRAMS
) -> dict[str, list[dict[str, Any]]]:
    """Per predicted class, the n-grams that most often made the largest contribution to
    the prediction (ties: the larger total contribution first), with how often and their
    mean contribution."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    sums: dict[tuple[str, str], float] = defaultdict(float)
    modality = get_modality(predictor.modality)
    for explanation in _explanations(modality, predictor, items, top=1):
        if explanation.ngrams:
            label, best = explanation.prediction.label, explanation.ngrams[0]
            counts[label][best.ngram] += 1
            sums[label, best.ngram] += best.contribution
    ranked = {
        label: sorted(counts[label], key=lambda g: (counts[label][g], sums[label, g]))[::-1]
        for label in predictor.labels
        if counts[label]
    }
    return {
        label: [
            {
                "ngram": g,
                "count": counts[label][g],
                "contribution": sums[label, g] / counts[label][g],
            }
            for g in ngrams[:top]
        ]
        for label, ngrams in ranked.items()
    }


def evaluation_record(
    predictor: Predictor,
    data: LabelledData,
    split: str = "data",
    mistakes: int = MISTAKES,
) -> dict[str, Any]:
    """The record a report is drawn from, for ``predictor`` on the labelled ``data``.

    ``metrics`` is exactly ``engine.evaluate.evaluate``'s report (what ``textcnn evaluate``
    prints); ``split`` says which data it was ("test", "dev", "data"). ``calibration`` bins
    the scores as served (the bundle's temperature applied) and keeps the expected
    calibration error of the logits' plain softmax beside it (``ece_before``). Single-label models
    only: the report's confusion matrix and calibration have no multi-label counterpart here.
    """
    if predictor.multi_label:
        raise TextCNNError(
            "reports are drawn for single-label models; evaluate a multi-label model "
            "without a `report` (its JSON has every multi-label metric)"
        )
    metrics = evaluate(predictor, data.items, data.labels, data.source)
    logits = predictor.predict_logits(data.items).float()
    confidence, predicted = predictor.proba_from_logits(logits).max(dim=1)
    index = {label: i for i, label in enumerate(predictor.labels)}
    gold = torch.tensor([index[label] for label in data.labels], dtype=torch.long)
    correct = predicted == gold
    raw = logits.softmax(dim=1).amax(dim=1)  # the scores before the temperature
    wrong = (~correct).nonzero().flatten()
    worst = wrong[confidence[wrong].argsort(descending=True)][:mistakes].tolist()
    modality = get_modality(predictor.modality)
    explainable = modality.explainable(predictor)  # a TextCNN: its winning n-grams
    shown = [data.items[i] for i in worst] if explainable else []
    explanations = _explanations(modality, predictor, shown, top=3) if explainable else []
    rows = []
    for rank, i in enumerate(worst):
        row: dict[str, Any] = {
            "where": _where(data, i),
            "label": data.labels[i],
            "predicted": predictor.labels[int(predicted[i])],
            "confidence": float(confidence[i]),
            **modality.report_item(data.items[i]),
        }
        if explainable:
            row["explanation"] = explanations[rank].to_dict()
        rows.append(row)
    record: dict[str, Any] = {
        "split": split,
        "data": data.source,
        "metrics": metrics,
        "calibration": {
            **calibration(confidence, correct),
            "temperature": predictor.temperature,
            "ece_before": calibration(raw, correct)["ece"],
        },
        "mistakes": rows,
    }
    if explainable:
        record["ngrams"] = deciding_ngrams(predictor, data.items)
    return record


def store_evaluation(bundle: Bundle, dev: LabelledData | None, test: LabelledData | None) -> None:
    """Record in ``bundle`` its evaluation on ``test``, else on ``dev``, for later reports.

    Multi-label bundles record none: the report draws single-label metrics.
    """
    data, split = (test, "test") if test is not None else (dev, "dev")
    if data is None or bundle.extra.get("multi_label"):
        return
    bundle.extra[EVALUATION_KEY] = evaluation_record(Predictor(bundle), data, split)
