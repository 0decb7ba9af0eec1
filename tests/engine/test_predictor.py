"""The Predictor's batch plumbing: collating encoded requests and ranking probabilities."""

from __future__ import annotations

import torch

from textcnn.engine.predictor import Predictor


def test_collate_zero_pads_each_batch_to_the_longest() -> None:
    a = torch.tensor([[5, 6, 7]])
    b = torch.tensor([[8], [9]])
    c = torch.tensor([[1, 2, 3, 4]])
    out = Predictor.collate([a, b, c])
    assert out.dtype == torch.long
    assert out.tolist() == [[5, 6, 7, 0], [8, 0, 0, 0], [9, 0, 0, 0], [1, 2, 3, 4]]
    assert Predictor.collate([a]) is a


def test_collate_concatenates_inputs_of_one_shape() -> None:
    images = [torch.rand(2, 3, 4, 4), torch.rand(1, 3, 4, 4)]
    out = Predictor.collate(images)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, torch.cat(images), rtol=0, atol=0)


def test_predictions_rank_every_label_highest_first(text_bundle) -> None:
    predictor = Predictor(text_bundle)
    labels = predictor.labels
    proba = torch.tensor([[0.2, 0.7, 0.1], [0.5, 0.1, 0.4]])[:, : len(labels)]
    proba = proba / proba.sum(1, keepdim=True)
    for row, prediction in zip(proba, predictor.predictions_from_proba(proba), strict=True):
        expected = sorted(zip(labels, row.tolist(), strict=True), key=lambda kv: -kv[1])
        assert prediction.scores == expected
        assert (prediction.label, prediction.score) == expected[0]
