"""Modality-neutral helpers for labelled data sets: label order and the dev holdout."""

from __future__ import annotations

from typing import Protocol, Self, TypeVar

from sklearn.model_selection import train_test_split


class LabelledData(Protocol):
    """What text and image data sets share: labels and a subset by index."""

    labels: list[str]

    def __len__(self) -> int: ...

    def subset(self, indices: list[int]) -> Self: ...


def sort_labels(labels: list[str]) -> list[str]:
    """Distinct labels, numerically if they are all integers, else alphabetically."""
    distinct = set(labels)
    if all(label.lstrip("-").isdigit() for label in distinct):
        return sorted(distinct, key=int)
    return sorted(distinct)


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
