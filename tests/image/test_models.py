import pytest
import torch

from textcnn.models import create_model, list_models
from textcnn.models.blocks import Classifier, ClassifierHead

ARCHS = ["densenet", "inception", "lenet5", "nin", "resnet", "vgg"]
TINY = {
    "densenet": {"width": 4, "depth": (2, 2, 2)},
    "inception": {"width": 4},
    "lenet5": {"width": 3},
    "nin": {"width": 8},
    "resnet": {"width": 4},
    "vgg": {"width": 4},
}


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
    first = next(m for m in model.encoder.modules() if isinstance(m, torch.nn.Conv2d))
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
