"""The lines a CUDA run takes, run on the CPU: rank devices, autocast, padding cuts, compile."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from textcnn.engine import distributed
from textcnn.engine.trainer import Split, TrainConfig, batch_width, fit, predict_logits
from textcnn.image.augment import ImageTransform
from textcnn.image.processor import ImageProcessor
from textcnn.models import create_model
from textcnn.models.blocks import Classifier, ClassifierHead


def text_model() -> nn.Module:
    torch.manual_seed(0)
    return create_model("textcnn", vocab_size=30, num_classes=2, dim=8, feature_maps=4)


def text_split(seed: int, n: int = 80) -> Split:
    """Rows of 1 to 12 tokens, right-padded to 16 columns (with ``lengths``, as text has)."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, 13, (n,), generator=g)
    x = torch.randint(1, 30, (n, 16), generator=g)
    x[torch.arange(16)[None, :] >= lengths[:, None]] = 0
    return Split(x, (x[:, 0] > 15).long(), lengths)


def test_every_rank_takes_the_gpu_of_its_local_rank(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--device cuda:0`` under torchrun: rank 1 must use cuda:1, or NCCL sees one GPU twice.
    (The two CUDA calls are recorded instead of made: no GPU here.)"""
    calls: list[object] = []
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(torch.cuda, "set_device", calls.append)
    monkeypatch.setattr(distributed.dist, "is_initialized", lambda: False)
    monkeypatch.setattr(
        distributed.dist, "init_process_group", lambda backend, **kw: calls.append(backend)
    )
    for asked in ("cuda", "cuda:0", "cuda:3"):
        calls.clear()
        assert distributed.init_distributed(torch.device(asked)) == torch.device("cuda", 1)
        assert calls == [torch.device("cuda", 1), "nccl"]
    assert distributed.init_distributed(torch.device("cpu")) == torch.device("cpu")


class Probe(nn.Module):
    """An encoder that records, for each forward, whether it ran in training and under
    which autocast dtype (None: float32)."""

    out_features = 4

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(6, 4)
        self.seen: list[tuple[bool, torch.dtype | None]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        on = torch.is_autocast_enabled("cpu")
        self.seen.append((self.training, torch.get_autocast_dtype("cpu") if on else None))
        return self.linear(x.float())


@pytest.mark.parametrize("precision", ["bf16", "fp16", "fp32", "auto"])
def test_steps_take_the_precision_asked_and_evaluation_is_fp32(precision: str) -> None:
    """The best epoch is chosen on dev accuracy measured as test and gate accuracy are: in
    float32, whatever the training steps' autocast (``auto`` on the CPU: fp32)."""
    torch.manual_seed(0)
    probe = Probe()
    model = Classifier(probe, ClassifierHead(4, 2, 0.0, None))
    x = torch.randn(40, 6)
    split = Split(x, (x[:, 0] > 0).long())
    cfg = TrainConfig(
        epochs=2, batch_size=10, optimizer="adam", precision=precision, device="cpu",
        progress=False,
    )  # fmt: skip
    result = fit(model, split, split, cfg)
    expected = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    assert {dtype for training, dtype in probe.seen if training} == {expected}
    assert {dtype for training, dtype in probe.seen if not training} == {None}
    assert result.best_dev_accuracy > 0.5
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_fp16_steps_scale_the_loss(monkeypatch: pytest.MonkeyPatch) -> None:
    """fp16 runs through a GradScaler (gradients of small losses would underflow)."""
    scales: list[float] = []
    original = torch.amp.GradScaler.scale

    def scale(self: torch.amp.GradScaler, loss: torch.Tensor) -> torch.Tensor:
        scaled = original(self, loss)
        scales.append(float((scaled / loss).detach()))
        return scaled

    monkeypatch.setattr(torch.amp.GradScaler, "scale", scale)
    cfg = TrainConfig(epochs=1, batch_size=40, precision="fp16", device="cpu", progress=False)
    fit(text_model(), text_split(0), None, cfg)
    assert scales and min(scales) > 1000  # 2**16 to start with


class Widths:
    """A batch transform recording each batch's shape and rows."""

    def __init__(self) -> None:
        self.train_batches: list[torch.Tensor] = []
        self.eval_widths: list[int] = []

    def train(self, x: torch.Tensor) -> torch.Tensor:
        self.train_batches.append(x)
        return x

    def eval(self, x: torch.Tensor) -> torch.Tensor:
        self.eval_widths.append(x.shape[1])
        return x


def test_batches_hold_similar_lengths_cut_to_their_longest_row() -> None:
    """Length bucketing and the padding cut are the trainer's, from the split's lengths (on
    the CPU, without reading from the device), not a CPU-only step of a text transform."""
    train, dev = text_split(0, 400), text_split(1, 30)
    widths = Widths()
    cfg = TrainConfig(epochs=1, batch_size=20, device="cpu", progress=False, eval_batch_size=10)
    fit(text_model(), train, dev, cfg, widths)
    for x in widths.train_batches:
        real = (x != 0).sum(dim=1)
        assert x.shape[1] == int(real.max()) < 16
    spreads = [int((x != 0).sum(1).max() - (x != 0).sum(1).min()) for x in widths.train_batches]
    assert sum(spreads) / len(spreads) < 4  # lengths 1-12 at random would spread ~10
    assert widths.eval_widths == sorted(widths.eval_widths) and max(widths.eval_widths) < 16


def test_accelerator_batches_round_their_width_to_a_multiple_of_8() -> None:
    lengths = torch.tensor([3, 9, 5])
    assert batch_width(lengths, torch.device("cpu")) == 9
    assert batch_width(lengths, torch.device("cuda", 0)) == 16  # a device object only
    assert batch_width(torch.tensor([], dtype=torch.long), torch.device("cpu")) == 1


def test_length_ordered_evaluation_returns_logits_in_input_order() -> None:
    model, dev = text_model().eval(), text_split(2, 50)
    plain = predict_logits(model, dev.x, batch_size=7)
    cut = predict_logits(model, dev.x, batch_size=7, lengths=dev.lengths)
    torch.testing.assert_close(cut, plain, rtol=1e-5, atol=1e-5)


def test_image_steps_make_no_constant_tensors(monkeypatch: pytest.MonkeyPatch) -> None:
    """Normalisation's mean and std are made once per device; a step sends no tensor to it."""
    transform = ImageTransform(ImageProcessor(8), crop_padding=2)
    x = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8)
    transform.train(x)
    expected = ImageProcessor(8).normalize(x)

    def refuse(*args: object, **kwargs: object) -> torch.Tensor:
        raise AssertionError("a constant tensor made in a training step")

    monkeypatch.setattr(torch, "tensor", refuse)
    transform.train(x)
    torch.testing.assert_close(transform.eval(x), expected)


def compiled_fit(model: nn.Module, train: Split, transform: object = None) -> dict[str, int]:
    """One epoch with ``torch.compile`` (inductor, as on a GPU): the graph breaks it met."""
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    cfg = TrainConfig(
        epochs=1, batch_size=len(train) // 2, optimizer="adam", compile=True, device="cpu",
        threads=1, progress=False,
    )  # fmt: skip
    result = fit(model, train, None, cfg, transform)
    assert result.compile_seconds > 0
    assert torch.isfinite(torch.tensor(result.history[0]["train_loss"]))
    return dict(counters["graph_break"])


@pytest.mark.slow
def test_compiled_text_epoch_has_no_graph_break() -> None:
    """``int(ids.max())`` and ``bool(mask.any())`` would each break the graph."""
    torch.manual_seed(0)
    model = create_model(
        "textcnn", vocab_size=30, num_classes=2, mode="non-static", dim=8, feature_maps=4,
        trained_vocab_size=20,
    )  # fmt: skip
    train = text_split(0, 40)  # without lengths: one input shape, one compilation
    assert compiled_fit(model, Split(train.x, train.y)) == {}


@pytest.mark.slow
def test_compiled_image_epoch_has_no_graph_break() -> None:
    torch.manual_seed(0)
    model = create_model("resnet", num_classes=2, width=4, depth=(1, 0, 0))
    x = torch.randint(0, 256, (16, 3, 8, 8), dtype=torch.uint8)
    transform = ImageTransform(ImageProcessor(8), crop_padding=1, channels_last=True)
    assert compiled_fit(model, Split(x, torch.arange(16) % 2), transform) == {}


def test_train_honours_precision_bf16_on_the_cpu(keyword_files: dict, tmp_path) -> None:
    """``textcnn train --precision bf16`` on the CPU: the GPU's autocast path, end to end."""
    import json

    from textcnn.cli import main

    out = tmp_path / "model"
    assert main([
        "train", "--data", str(keyword_files["train"]), "--test", str(keyword_files["test"]),
        "--mode", "rand", "--dim", "16", "--feature-maps", "8", "--epochs", "6",
        "--batch-size", "20", "--optimizer", "adam", "--lr", "0.01", "--precision", "bf16",
        "--ngram-buckets", "0",  # the CNN alone: n-gram scores would carry a broken one
        "--device", "cpu", "--threads", "1", "--no-progress", "--out", str(out),
    ]) == 0  # fmt: skip
    config = json.loads((out / "config.json").read_text())
    assert config["training"]["options"]["train"]["precision"] == "bf16"
    assert config["metrics"]["test_accuracy"] > 0.8
