"""Architectures, registered by name (``create_model("textcnn", ...)``, ``"resnet"``...)."""

from textcnn.models import image as _image  # noqa: F401  (registers the image architectures)
from textcnn.models import textcnn as _textcnn  # noqa: F401  (registers the architecture)
from textcnn.models.blocks import Classifier, ClassifierHead, ConvBank1d, ConvBNAct
from textcnn.models.registry import (
    config_to_dict,
    create_model,
    list_models,
    make_config,
    model_entry,
    register_model,
)

__all__ = [
    "Classifier",
    "ClassifierHead",
    "ConvBNAct",
    "ConvBank1d",
    "config_to_dict",
    "create_model",
    "list_models",
    "make_config",
    "model_entry",
    "register_model",
]
