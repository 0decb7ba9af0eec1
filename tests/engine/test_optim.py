"""The lazy sparse Adadelta follows dense ``torch.optim.Adadelta`` step for step."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from textcnn.engine.optim import SparseAdadelta, supports_sparse_grads


def _pair(sparse: bool) -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(40, 6, padding_idx=0, sparse=sparse), nn.Linear(6, 3))
    return model


def _batches(steps: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    # Each batch touches a few of 40 rows (some rows sit untouched for many steps), with
    # repeats and padding, and row 39 only at the very end.
    batches = [torch.randint(0, 12 if s < 6 else 39, (4, 5), generator=gen) for s in range(steps)]
    batches[-1][0, 0] = 39
    return batches


def _train(model: nn.Module, opt: torch.optim.Optimizer, batches: list[torch.Tensor]) -> None:
    for ids in batches:
        loss = model(ids).sum(dim=1).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


@pytest.mark.parametrize("lr", [1.0, 0.3])
def test_sparse_adadelta_matches_dense_adadelta(lr: float) -> None:
    batches = _batches(12)
    dense = _pair(sparse=False)
    lazy = _pair(sparse=True)
    reference = torch.optim.Adadelta(dense.parameters(), lr=lr, rho=0.95, eps=1e-6)
    ours = SparseAdadelta(lazy.parameters(), lr=lr, rho=0.95, eps=1e-6, foreach=True)
    _train(dense, reference, batches)
    _train(lazy, ours, batches)
    assert lazy[0].weight.grad is not None and lazy[0].weight.grad.is_sparse
    for p, q in zip(dense.parameters(), lazy.parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-6, rtol=1e-5)
    assert not torch.equal(dense[0].weight, _pair(False)[0].weight)  # the table did train
    # After flush() (state_dict() calls it) the accumulators match too.
    ours.flush()
    for p, q in zip(dense.parameters(), lazy.parameters(), strict=True):
        for key in ("square_avg", "acc_delta"):
            assert torch.allclose(reference.state[p][key], ours.state[q][key], atol=1e-7)
    assert "last_step" not in ours.state_dict()["state"][0]


def test_sparse_gradients_with_weight_decay_update_densely() -> None:
    batches = _batches(5)
    dense, lazy = _pair(sparse=False), _pair(sparse=True)
    _train(dense, torch.optim.Adadelta(dense.parameters(), weight_decay=0.01), batches)
    _train(lazy, SparseAdadelta(lazy.parameters(), weight_decay=0.01), batches)
    for p, q in zip(dense.parameters(), lazy.parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-6, rtol=1e-5)


def test_only_adadelta_without_weight_decay_takes_sparse_gradients() -> None:
    assert supports_sparse_grads("adadelta")
    assert not supports_sparse_grads("adadelta", weight_decay=1e-4)
    assert not supports_sparse_grads("adam")
