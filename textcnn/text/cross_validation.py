"""Stratified, seeded K-fold cross-validation of the text recipe, the folds trained one after
the other or side by side (``text.fold_parallel``)."""

from __future__ import annotations

import logging
import statistics
import time
from collections import Counter
from typing import Any

from gensim.models import KeyedVectors
from sklearn.model_selection import KFold, StratifiedKFold

from textcnn.engine.config import TrainConfig
from textcnn.engine.device import resolve_device
from textcnn.engine.finish import headline_metric
from textcnn.engine.splits import training_labels
from textcnn.errors import DataError
from textcnn.text import fold_parallel
from textcnn.text.data import TextDataset
from textcnn.text.finish import finish_text
from textcnn.text.options import TextTrainOptions
from textcnn.text.prepare import prepare_text, vectors_for
from textcnn.text.prepared import PreparedText, fit_prepared
from textcnn.text.sentence_term import remembering

log = logging.getLogger(__name__)
CV_METRICS = {  # by multi-label: what cross-validation reports per fold, and mean and std of
    False: ("accuracy",),
    True: ("micro_f1", "macro_f1", "samples_f1", "subset_accuracy", "hamming_loss"),
}


def cross_validate(
    data: TextDataset,
    opts: TextTrainOptions,
    folds: int,
    vectors: KeyedVectors | None = None,
    labels: list[str] | None = None,
    parallel: bool | None = None,
) -> dict[str, Any]:
    """Stratified, seeded K-fold CV: per-fold and mean/std test accuracy (micro-F1 for
    multi-label data, with macro- and samples F1, subset accuracy and Hamming loss).

    ``labels``: ``training_labels(data)``, when the caller has checked them. The folds are
    not checked again: the per-class minimum below gives each of them every class. Multi-label
    folds are plain shuffled ones (label sets are too many to stratify by).
    ``parallel``: train the folds side by side (``text.fold_parallel``); ``None`` does so on
    an accelerator when they fit in memory, ``True`` wherever the setting allows it.
    """
    labels = labels or training_labels(data)
    multi = data.label_sets is not None
    counts = Counter(x for s in data.label_sets for x in s) if multi else Counter(data.labels)
    smallest = min(labels, key=lambda label: counts[label])
    if counts[smallest] < folds:
        raise DataError(
            data.path,
            f"class {smallest!r} has {counts[smallest]} examples; "
            f"{folds}-fold cross-validation needs at least {folds} per class",
        )
    vectors = vectors_for(opts, vectors)
    kind = KFold if multi else StratifiedKFold
    splitter = kind(n_splits=folds, shuffle=True, random_state=opts.train.seed)
    prepared = [
        prepare_text(
            data.subset(list(tr)), opts, test=data.subset(list(te)), vectors=vectors, labels=labels
        )
        for tr, te in splitter.split(data.texts, data.labels)
    ]
    together = _fold_parallel(parallel, prepared, opts.train)
    started = time.perf_counter()
    fitted = fit_prepared(prepared, opts.train, parallel=together)
    seconds = time.perf_counter() - started
    results = []
    with remembering():  # every fold embeds texts the others embed
        for fold, (p, result) in enumerate(zip(prepared, fitted, strict=True), 1):
            bundle = finish_text(p, opts, result)
            headline = headline_metric(bundle)
            report = bundle.metrics["test"]
            fold_result = {
                "fold": fold,
                **{f"test_{k}": report[k] for k in CV_METRICS[multi]},
                f"dev_{result.dev_metric}": bundle.metrics[f"dev_{result.dev_metric}"],
                "best_epoch": bundle.metrics["best_epoch"],
                "epochs": len(result.history),
            }
            log.info("fold %d/%d: test %s %.4f", fold, folds, headline, report[headline])
            results.append(fold_result)
    summary: dict[str, Any] = {"folds": results}
    for key in CV_METRICS[multi]:
        values = [r[f"test_{key}"] for r in results]
        summary[f"mean_{key}"] = statistics.fmean(values)
        summary[f"std_{key}"] = statistics.pstdev(values)
    return {
        **summary,
        "labels": labels,
        "mode": opts.mode,
        "embeddings": opts.embeddings,
        "multi_label": multi,
        "fold_parallel": together,
        "train_seconds": round(seconds, 3),
    }


def _fold_parallel(parallel: bool | None, prepared: list[PreparedText], cfg: TrainConfig) -> bool:
    """Whether to train the folds side by side (see ``cross_validate``), saying why not when
    it was asked for."""
    if parallel is False:
        return False
    device = resolve_device(cfg.device)
    reason = fold_parallel.unsupported(cfg)
    if reason is None:
        models = [p.model for p in prepared]
        need = fold_parallel.planned_bytes(
            models, [p.train_split for p in prepared], cfg.batch_size
        )
        if not fold_parallel.fits_in_memory(need, device):
            reason = f"its estimated {need / 2**30:.1f} GiB not fitting in memory"
    if reason is not None:
        if parallel:
            log.warning("folds trained one by one: fold-parallel CV does not run with %s", reason)
        return False
    return bool(parallel) or device.type != "cpu"
