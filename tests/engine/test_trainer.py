import json
import re

import pytest
import torch

from textcnn.engine.trainer import Split, TrainConfig, bucketed, fit
from textcnn.models import create_model


def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model("textcnn", vocab_size=30, num_classes=2, dim=8, feature_maps=4)


def data(seed: int) -> Split:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(1, 30, (80, 6), generator=g)
    return Split(x, (x[:, 0] > 15).long())


def test_cpu_runs_repeat_exactly_with_a_seed() -> None:
    cfg = TrainConfig(epochs=2, batch_size=16, seed=3, progress=False, device="cpu")
    a, b = model(), model()
    ra = fit(a, data(0), data(1), cfg)
    rb = fit(b, data(0), data(1), cfg)
    assert [h["train_loss"] for h in ra.history] == [h["train_loss"] for h in rb.history]
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_the_best_dev_epoch_is_kept() -> None:
    m = model()
    states = []
    cfg = TrainConfig(epochs=4, batch_size=16, progress=False, device="cpu", optimizer="adam")
    result = fit(
        m,
        data(0),
        data(1),
        cfg,
        on_epoch=lambda r: states.append({k: v.clone() for k, v in m.state_dict().items()}),
    )
    accs = [h["dev_accuracy"] for h in result.history]
    assert result.best_epoch == accs.index(max(accs)) + 1
    best = states[result.best_epoch - 1]
    assert all(torch.equal(v, m.state_dict()[k]) for k, v in best.items())


def test_bucketed_order_is_a_permutation_of_similar_length_batches() -> None:
    order = torch.randperm(1000, generator=torch.Generator().manual_seed(0))
    lengths = torch.randint(1, 60, (1000,))
    out = bucketed(order, lengths, 50)
    assert sorted(out.tolist()) == list(range(1000))
    spreads = [int(lengths[b].max() - lengths[b].min()) for b in torch.split(out, 50)]
    assert sum(spreads) / len(spreads) < 10


def test_bad_config_is_rejected() -> None:
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(optimizer="lbfgs")
    with pytest.raises(ValueError, match="at least 1"):
        TrainConfig(epochs=0)


def test_the_progress_bar_shows_running_loss_and_accuracy(
    capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = TrainConfig(epochs=2, batch_size=16, progress=True, device="cpu")
    with caplog.at_level("INFO", logger="textcnn.engine.trainer"):
        fit(model(), data(0), data(1), cfg)
    err = capsys.readouterr().err
    assert "epoch 2/2" in err
    assert re.search(r"acc=[01]\.\d{3}, loss=\d+\.\d{4}", err)
    epochs = [json.loads(r.getMessage()) for r in caplog.records if r.getMessage().startswith("{")]
    assert [e["epoch"] for e in epochs] == [1, 2]  # and a JSON line per epoch in the log
    assert {"train_loss", "train_accuracy", "dev_accuracy", "seconds"} <= set(epochs[0])
