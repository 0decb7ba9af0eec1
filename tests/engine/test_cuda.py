"""The GPU path on a GPU (``-m cuda``; skipped without one): what the CPU cannot show."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from tests.engine.test_gpu_path import text_model, text_split
from textcnn.engine.predictor import Predictor
from textcnn.engine.trainer import Split, TrainConfig, fit, to_device
from textcnn.image.augment import ImageTransform
from textcnn.image.processor import ImageProcessor
from textcnn.models import create_model

pytestmark = pytest.mark.cuda


def test_host_copies_go_through_pinned_memory() -> None:
    x = torch.arange(10)
    moved = to_device(x, torch.device("cuda"))
    torch.cuda.synchronize()
    assert moved.is_cuda and torch.equal(moved.cpu(), x)


@pytest.mark.parametrize("precision", ["auto", "bf16", "fp16", "fp32"])
def test_text_trains_on_the_gpu_in_every_precision(precision: str) -> None:
    cfg = TrainConfig(
        epochs=8, batch_size=20, optimizer="adam", lr=0.01, precision=precision,
        device="cuda", progress=False,
    )  # fmt: skip
    model = text_model()
    result = fit(model, text_split(0, 400), text_split(1, 100), cfg)
    assert result.best_dev_accuracy > 0.8
    cpu_cfg = replace(cfg, device="cpu", precision="fp32")
    cpu = fit(text_model(), text_split(0, 400), text_split(1, 100), cpu_cfg)
    assert abs(cpu.best_dev_accuracy - result.best_dev_accuracy) < 0.1


def test_compiled_text_and_image_training_on_the_gpu() -> None:
    cfg = TrainConfig(
        epochs=2, batch_size=20, optimizer="adam", compile=True, device="cuda", progress=False
    )
    result = fit(text_model(), text_split(0, 200), text_split(1, 50), cfg)
    assert result.compile_seconds > 0 and result.best_dev_accuracy > 0.5
    model = create_model("resnet", num_classes=2, width=8, depth=(1, 0, 0))
    x = torch.randint(0, 256, (64, 3, 16, 16), dtype=torch.uint8)
    y = (x.float().mean(dim=(1, 2, 3)) > 127.5).long()
    transform = ImageTransform(ImageProcessor(16), crop_padding=2, channels_last=True)
    cfg.channels_last = cfg.drop_last = True
    result = fit(model, Split(x, y), Split(x, y), cfg, transform)
    assert torch.isfinite(torch.tensor(result.history[-1]["train_loss"]))


def test_a_predictor_on_the_gpu_matches_the_cpu(text_bundle) -> None:
    texts = ["what a wonderful day", "why is it so", "an awful film"]
    cpu = Predictor(text_bundle).predict_proba(texts)
    text_bundle.model.cuda()
    try:
        gpu = Predictor(text_bundle).predict_proba(texts)
    finally:
        text_bundle.model.cpu()
    torch.testing.assert_close(gpu, cpu, rtol=1e-3, atol=1e-3)
