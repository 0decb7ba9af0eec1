"""The airbench recipe's parts: the whitening layer, lookahead, the optimiser, translate TTA."""

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from textcnn.engine.forward import forward_logits
from textcnn.engine.lookahead import Lookahead
from textcnn.engine.trainer import TrainConfig
from textcnn.image.airbench import AirbenchRecipe
from textcnn.image.data import read_image_dataset
from textcnn.image.train import train_image
from textcnn.models import create_model
from textcnn.models.blocks import PatchWhitening, whitening_layers


def smooth_images(n: int, size: int = 16) -> torch.Tensor:
    """Random images whose neighbouring pixels and channels are strongly correlated."""
    generator = torch.Generator().manual_seed(0)
    coarse = torch.randn(n, 1, size // 4, size // 4, generator=generator)
    base = F.interpolate(coarse, size=size, mode="bilinear", align_corners=False)
    noise = 0.1 * torch.randn(n, 3, size, size, generator=generator)
    return base * torch.tensor([1.0, 0.8, 0.5]).view(1, 3, 1, 1) + noise


def patch_second_moment(layer: PatchWhitening, images: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        out = F.conv2d(images, layer.weight)  # without the bias
    flat = out.transpose(0, 1).reshape(out.shape[1], -1)
    return flat @ flat.T / flat.shape[1]


def test_patch_whitening_decorrelates_its_input_and_keeps_both_signs() -> None:
    images = smooth_images(64)
    layer = PatchWhitening(3, 2, eps=1e-8)
    assert not layer.weight.requires_grad and layer.bias.requires_grad
    before = patch_second_moment(layer, images)
    layer.fit(images, chunk=16)  # several chunks
    moment = patch_second_moment(layer, images)
    half = layer.out_channels // 2
    assert torch.allclose(moment[:half, :half], torch.eye(half), atol=1e-3)
    assert torch.equal(layer.weight[half:], -layer.weight[:half])
    assert not torch.allclose(before[:half, :half], torch.eye(half), atol=0.1)


def test_lookahead_averages_every_few_steps_and_ends_on_the_average() -> None:
    model = nn.Linear(1, 1, bias=False)
    nn.init.zeros_(model.weight)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    Lookahead(model, total_steps=5, every=2, decay=lambda step: 0.5).attach(optimizer)
    seen, average = [], 0.0
    for step in range(1, 6):
        model.weight.grad = torch.tensor([[-1.0]])  # each step adds 1 to the weight
        optimizer.step()
        weight = seen[-1] + 1 if seen else 1.0
        if step % 2 == 0:
            average = average + 0.5 * (weight - average)
            weight = average
        if step == 5:
            weight = average
        seen.append(weight)
        assert model.weight.item() == pytest.approx(weight)
    assert seen == [1.0, 1.0, 2.0, 2.0, 2.0]  # the last step's update gives way


def test_recipe_optimizer_groups_schedule_and_whitening_bias_freeze() -> None:
    recipe = AirbenchRecipe(epochs=10)
    model = create_model("airbench", num_classes=10, width=4)
    cfg = recipe.options(device="cpu").train
    optimizer, scheduler = recipe.optimizer_factory()(model, cfg, 100)
    norm, whiten, other = optimizer.param_groups
    assert [p for p in whiten["params"]] == [whitening_layers(model)[0].bias]
    assert len(norm["params"]) == 6 and all(p.dim() == 1 for p in norm["params"])
    assert norm["lr"] == pytest.approx(64 * other["lr"])
    assert norm["lr"] * norm["weight_decay"] == pytest.approx(other["lr"] * other["weight_decay"])
    assert other["lr"] == pytest.approx(recipe.sgd_lr() * 0.2)  # the warm-up starts at 0.2
    assert recipe.sgd_lr() == pytest.approx(1.5)  # 11.5 per 1024 examples, momentum 0.85
    lrs = []
    for _ in range(100):
        lrs.append((whiten["lr"], other["lr"]))
        optimizer.step()
        scheduler.step()
    peak = max(lr for _, lr in lrs)
    assert lrs[23][1] == pytest.approx(peak) and lrs[-1][1] < 0.1 * peak
    assert all(w > 0 for w, _ in lrs[:30]) and all(w == 0 for w, _ in lrs[30:])


def test_the_recipe_trains_through_train_image(shapes: Path) -> None:
    """Whitening fitted to the training images, its bias frozen after its epochs, lookahead
    attached."""
    recipe = AirbenchRecipe(epochs=3, batch_size=32, width=4, whiten_bias_epochs=1)
    opts = recipe.options(device="cpu", threads=1, seed=0)
    inner = recipe.optimizer_factory()
    seen: dict[str, object] = {}
    biases = []

    def spy(model: nn.Module, cfg: TrainConfig, total_steps: int):  # noqa: ANN202
        seen["model"] = model
        seen["optimizer"], scheduler = inner(model, cfg, total_steps)
        return seen["optimizer"], scheduler

    def on_epoch(record: dict) -> None:
        biases.append(whitening_layers(seen["model"])[0].bias.detach().clone())

    train = read_image_dataset(shapes / "train")
    bundle = train_image(train, opts, on_epoch=on_epoch, optimizer_factory=spy)
    layer = whitening_layers(bundle.model)[0]
    assert not torch.allclose(biases[0], torch.zeros_like(biases[0]))
    assert torch.equal(biases[1], biases[2])  # frozen after the first epoch
    # The filters whiten the (normalised) training images' patches.
    images = bundle.processor.normalize(bundle.processor.pixels(train.items))
    half = layer.out_channels // 2
    moment = patch_second_moment(layer, images)[:half, :half]
    fresh = PatchWhitening(3, 2)
    fresh.fit(images)
    expected = patch_second_moment(fresh, images)[:half, :half].diagonal()
    assert torch.allclose(moment.diagonal(), expected, atol=1e-3)
    assert moment.diagonal()[0] == pytest.approx(1.0, abs=1e-3)  # the leading axis
    assert moment.fill_diagonal_(0).abs().max() < 1e-3  # decorrelated
    assert len(seen["optimizer"]._optimizer_step_post_hooks) == 1  # lookahead


def test_translate_tta_averages_six_views() -> None:
    torch.manual_seed(0)
    linear = nn.Linear(3 * 4 * 4, 5)

    def model(x: torch.Tensor) -> torch.Tensor:  # reads only interior pixels
        return linear(x[..., 2:6, 2:6].flatten(1))

    x = torch.randn(2, 3, 8, 8)
    views = [x, torch.roll(x, (1, 1), (-2, -1)), torch.roll(x, (-1, -1), (-2, -1))]
    mirrored = [(model(v) + model(v.flip(-1))) / 2 for v in views]
    expected = mirrored[0] / 2 + (mirrored[1] + mirrored[2]) / 4
    assert torch.allclose(forward_logits(model, x, 2), expected, atol=1e-6)
    assert torch.allclose(forward_logits(model, x, True), mirrored[0])
    with pytest.raises(ValueError, match="tta must be one of"):
        forward_logits(model, x, 3)
