"""Modality-neutral helpers for labelled data sets: label order, label checks, the dev holdout."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, Self, TypeVar

from sklearn.model_selection import train_test_split

from textcnn.errors import DataError


class LabelledData(Protocol):
    """What every modality's data sets share: inputs, labels, where they came from."""

    labels: list[str]
    fingerprint: str

    def __len__(self) -> int: ...

    @property
    def items(self) -> Sequence[Any]: ...

    @property
    def source(self) -> str: ...

    def locate(self, index: int) -> tuple[str, int | None]:
        """The file (and line, for line-based files) of example ``index``."""
        ...

    def subset(self, indices: list[int]) -> Self: ...


def sort_labels(labels: list[str]) -> list[str]:
    """Distinct labels, numerically if they are all integers, else alphabetically."""
    distinct = set(labels)
    if all(label.lstrip("-").isdigit() for label in distinct):
        return sorted(distinct, key=int)
    return sorted(distinct)


def label_sets(data: LabelledData) -> list[tuple[str, ...]] | None:
    """The label set of each example of multi-label data (``label_sets``), else None."""
    return getattr(data, "label_sets", None)


def gold(data: LabelledData) -> list[str] | list[tuple[str, ...]]:
    """What ``evaluate`` compares predictions with: the labels, or the label sets."""
    sets = label_sets(data)
    return data.labels if sets is None else sets


def distinct_labels(data: LabelledData) -> list[str]:
    """The sorted labels of ``data``: of every set, for multi-label data."""
    sets = label_sets(data)
    return sort_labels(data.labels if sets is None else [x for s in sets for x in s])


def check_labels(data: LabelledData, known: Sequence[str]) -> None:
    """Fail on the first example with a label the model was not trained on."""
    known_set = set(known)
    sets = label_sets(data)
    for index, names in enumerate(sets if sets is not None else [(x,) for x in data.labels]):
        for label in names:
            if label not in known_set:
                path, line = data.locate(index)
                raise DataError(
                    path,
                    f"label {label!r} never appears in the training data "
                    f"(known labels: {', '.join(known)})",
                    line,
                )


def training_labels(train: LabelledData, *others: LabelledData | None) -> list[str]:
    """The sorted labels of ``train``; fails on a single class, or on a label of a dev or
    test set (``others``) that training never sees."""
    labels = distinct_labels(train)
    if len(labels) < 2:
        found = f"only one class ({labels[0]!r})" if labels else "no labels"
        raise DataError(train.source, f"{found}: a classifier needs at least two")
    for other in others:
        if other is not None:
            check_labels(other, labels)
    return labels


D = TypeVar("D", bound=LabelledData)


def dev_split(data: D, fraction: float, seed: int) -> tuple[D, D]:
    """A stratified, seeded holdout (Kim's code keeps 10% of the training data for dev);
    unstratified when some class is too small to be split."""
    indices = list(range(len(data)))
    try:
        train_idx, dev_idx = train_test_split(
            indices, test_size=fraction, random_state=seed, stratify=data.labels
        )
    except ValueError:
        train_idx, dev_idx = train_test_split(indices, test_size=fraction, random_state=seed)
    return data.subset(sorted(train_idx)), data.subset(sorted(dev_idx))
