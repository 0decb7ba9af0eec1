"""textcnn: Kim (2014) convolutional text classifiers, and image CNNs on the same engine."""

from textcnn.engine.bundle import Bundle, load_bundle
from textcnn.engine.predictor import Prediction, Predictor
from textcnn.modalities import image as _image  # noqa: F401  (registers the modality)
from textcnn.modalities import text as _text  # noqa: F401  (registers the modality)
from textcnn.models import create_model, list_models
from textcnn.version import __version__

__all__ = [
    "Bundle",
    "Prediction",
    "Predictor",
    "__version__",
    "create_model",
    "list_models",
    "load_bundle",
]
