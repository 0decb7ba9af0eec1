"""The text data sets and splits every text benchmark and study uses, as Kim (2014) does.

MR by stratified, seeded 10-fold CV; TREC with its test set (dev: a 10 % holdout of its
training data); SST-2 with its dev and test sets (sentences only, no phrases)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sklearn.model_selection import StratifiedKFold

from textcnn.engine.splits import dev_split
from textcnn.text.data import TextDataset, read_text_dataset

DATASETS = ("mr", "trec", "sst2")


def text_data_present(root: Path) -> bool:
    """Whether ``root/text`` holds the data sets; says how to point at them when it does not
    (a study run without ``../shared`` reports a skip instead of a traceback)."""
    if (root / "text").is_dir():
        return True
    print(f"skipped: {root / 'text'} is absent (pass --datasets-root)")
    return False


@dataclass
class Task:
    """One evaluation: train (dev: None = a 10% holdout) and test."""

    train: TextDataset
    dev: TextDataset | None
    test: TextDataset

    def with_dev(self, seed: int = 0) -> tuple[TextDataset, TextDataset]:
        """The training and dev data: the task's dev set, else a seeded 10 % holdout."""
        if self.dev is not None:
            return self.train, self.dev
        return dev_split(self.train, 0.1, seed)


def tasks(name: str, root: Path, folds: int, run_folds: int) -> list[Task]:
    """``name``'s evaluations: MR's first ``run_folds`` of ``folds`` folds, else one task."""
    text = root / "text"
    if name == "mr":
        data = read_text_dataset(text / "rt-polarity.all")
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
        out = []
        for train_idx, test_idx in list(splitter.split(data.texts, data.labels))[:run_folds]:
            out.append(Task(data.subset(list(train_idx)), None, data.subset(list(test_idx))))
        return out
    if name == "trec":
        train = read_text_dataset(text / "TREC.train.all")
        return [Task(train, None, read_text_dataset(text / "TREC.test.all"))]
    train = read_text_dataset(text / "stsa.binary.train")
    dev = read_text_dataset(text / "stsa.binary.dev")
    return [Task(train, dev, read_text_dataset(text / "stsa.binary.test"))]
