"""The moving average of the weights: what it tracks, how it moves, and what ``fit`` keeps."""

from dataclasses import replace

import pytest
import torch
from torch import nn

from tests.engine.test_trainer import data, model
from textcnn.engine.ema import WeightAverage
from textcnn.engine.trainer import Identity, TrainConfig, accuracy, fit


def test_the_average_moves_towards_trained_weights_and_skips_frozen_ones() -> None:
    net = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    net[0].bias.requires_grad_(False)
    average = WeightAverage(net, decay=0.5)
    start = net[0].weight.detach().clone()
    assert len(average.weights) == 3 + 2  # weight, bn weight and bias; its two running stats
    with torch.no_grad():
        net[0].weight.add_(10.0)
    average.update()  # step 1: decay min(0.5, 2 / 11)
    expected = start + (1 - 2 / 11) * 10.0
    torch.testing.assert_close(average.average[0], expected)
    live = net[0].weight.detach().clone()
    with average.applied():
        torch.testing.assert_close(net[0].weight, expected)
    assert torch.equal(net[0].weight, live)  # restored after the block
    average.copy_to_model()
    torch.testing.assert_close(net[0].weight, expected)


def test_fit_keeps_the_averaged_weights_it_scored_on_dev() -> None:
    cfg = TrainConfig(epochs=4, batch_size=16, progress=False, device="cpu", optimizer="adam")
    plain, averaged = model(), model()
    fit(plain, data(0), data(1), cfg)
    cfg_ema = replace(cfg, ema=0.9)
    result = fit(averaged, data(0), data(1), cfg_ema)
    assert accuracy(averaged, data(1), Identity(), cfg_ema) == pytest.approx(
        result.best_dev_accuracy
    )
    assert not torch.equal(plain.head.linear.weight, averaged.head.linear.weight)
    last, last_averaged = model(), model()  # no dev: the last epoch's weights, or their average
    fit(last, data(0), None, cfg)
    fit(last_averaged, data(0), None, cfg_ema)
    assert not torch.equal(last.head.linear.weight, last_averaged.head.linear.weight)


def test_a_decay_outside_zero_one_is_refused() -> None:
    with pytest.raises(ValueError, match="decay"):
        TrainConfig(ema=1.0)
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(nn.Linear(1, 1), decay=0.0)
