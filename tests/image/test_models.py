import math
from pathlib import Path

import pytest
import torch

from textcnn.engine.bundle import Bundle, load_bundle
from textcnn.engine.trainer import Split, TrainConfig, fit
from textcnn.image.augment import ImageTransform
from textcnn.image.processor import ImageProcessor
from textcnn.models import create_model, list_models, make_config, model_entry
from textcnn.models.blocks import Classifier, ClassifierHead

ARCHS = [
    "airbench",
    "alexnet",
    "alexnet_bn",
    "densenet",
    "inception",
    "lenet5",
    "nin",
    "resnet",
    "vgg",
]
TINY = {
    "airbench": {"width": 4},
    "alexnet": {"width": 4, "hidden": (16, 16)},
    "alexnet_bn": {"width": 4, "hidden": (16, 16)},
    "densenet": {"width": 4, "depth": (2, 2, 2)},
    "inception": {"width": 4},
    "lenet5": {"width": 3},
    "nin": {"width": 8},
    "resnet": {"width": 4},
    "vgg": {"width": 4},
}


def first_trained_conv(model: torch.nn.Module) -> torch.nn.Conv2d:
    convs = [m for m in model.encoder.modules() if isinstance(m, torch.nn.Conv2d)]
    return next(m for m in convs if m.weight.requires_grad)


def test_the_registry_holds_the_classic_families() -> None:
    assert list_models("image") == ARCHS
    assert "textcnn" not in list_models("image")


@pytest.mark.parametrize("arch", list_models("image"))
@pytest.mark.parametrize("size", [32, 48])
def test_output_shape_and_gradients_reach_the_first_layer(arch: str, size: int) -> None:
    torch.manual_seed(0)
    model = create_model(arch, num_classes=5, input_size=size, **TINY[arch])
    assert isinstance(model, Classifier) and isinstance(model.head, ClassifierHead)
    logits = model(torch.randn(3, 3, size, size))
    assert logits.shape == (3, 5)
    logits.logsumexp(dim=1).sum().backward()
    first = first_trained_conv(model)
    assert first.weight.grad is not None and first.weight.grad.abs().sum() > 0


def test_the_default_resnet_is_resnet9() -> None:
    model = create_model("resnet", num_classes=10)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 8 and model.encoder.out_features == 512
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_width_and_depth_are_settings() -> None:
    shallow = create_model("resnet", num_classes=2, width=8, depth=(0, 0, 0))
    deep = create_model("resnet", num_classes=2, width=8, depth=[2, 2, 2])
    count = lambda m: sum(isinstance(x, torch.nn.Conv2d) for x in m.modules())  # noqa: E731
    assert count(deep) == count(shallow) + 12
    assert deep.encoder.out_features == 64


def test_nin_has_no_dense_layer_but_the_head() -> None:
    model = create_model("nin", num_classes=4, width=8)
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert linears == [model.head.linear]


def smallest(arch: str) -> int:
    return make_config(arch, num_classes=3, **TINY[arch]).min_input_size()


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")
@pytest.mark.parametrize("arch", list_models("image"))
def test_the_smallest_allowed_size_runs_and_one_pixel_less_is_refused(arch: str) -> None:
    size = smallest(arch)
    torch.manual_seed(0)
    model = create_model(arch, num_classes=3, input_size=size, **TINY[arch])
    x = torch.randn(4, 3, size, size)
    model(x).square().sum().backward()
    assert first_trained_conv(model).weight.grad.abs().sum() > 0
    if size > 1:
        config = make_config(arch, num_classes=3, input_size=size - 1, **TINY[arch])
        with pytest.raises(ValueError, match=f"{arch} needs inputs of at least {size} pixels"):
            create_model(arch, config)
        # The minimum is tight: the unchecked builder breaks one pixel below it.
        with pytest.raises(RuntimeError):
            model_entry(arch).build.__wrapped__(config)(torch.randn(2, 3, size - 1, size - 1))


@pytest.mark.parametrize("arch", list_models("image"))
def test_two_training_steps_stay_finite_and_a_bundle_round_trip_is_exact(
    arch: str, tmp_path: Path
) -> None:
    size = max(smallest(arch), 16)
    config = make_config(arch, num_classes=3, input_size=size, **TINY[arch])
    model = create_model(arch, config)
    generator = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, 256, (8, 3, size, size), dtype=torch.uint8, generator=generator)
    split = Split(pixels, torch.tensor([0, 1, 2, 0, 1, 2, 0, 1]))
    processor = ImageProcessor(size)
    cfg = TrainConfig(epochs=1, batch_size=4, optimizer="sgd", lr=0.05, device="cpu")
    cfg.progress, cfg.drop_last = False, True
    before = [p.detach().clone() for p in model.parameters() if p.requires_grad]
    result = fit(model, split, None, cfg, ImageTransform(processor, crop_padding=1))
    assert math.isfinite(result.history[0]["train_loss"])
    after = [p for p in model.parameters() if p.requires_grad]
    assert all(torch.isfinite(p).all() for p in after)
    assert any(not torch.equal(a, b) for a, b in zip(after, before, strict=True))
    bundle = Bundle(model.eval(), arch, config, processor, ["a", "b", "c"])
    loaded = load_bundle(bundle.save(tmp_path / arch))
    x = processor.normalize(pixels)
    with torch.no_grad():
        assert torch.equal(loaded.model(x), model(x))


def test_alexnet_normalises_with_lrn_or_batch_norm_and_drops_out_in_the_head() -> None:
    lrn = create_model("alexnet", num_classes=10)
    bn = create_model("alexnet_bn", num_classes=10)
    count = lambda m, kind: sum(isinstance(x, kind) for x in m.modules())  # noqa: E731
    assert count(lrn, torch.nn.LocalResponseNorm) == 2 and count(lrn, torch.nn.BatchNorm2d) == 0
    assert count(bn, torch.nn.BatchNorm2d) == 5 and count(bn, torch.nn.LocalResponseNorm) == 0
    pools = [m for m in lrn.modules() if isinstance(m, torch.nn.MaxPool2d)]
    assert len(pools) == 3 and all(p.kernel_size == 3 and p.stride == 2 for p in pools)
    assert count(lrn, torch.nn.Dropout) == 3  # before each hidden layer, and the head's
    with pytest.raises(ValueError, match="unknown norm"):
        make_config("alexnet", num_classes=10, norm="group")
