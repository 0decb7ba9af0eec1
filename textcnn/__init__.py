"""textcnn: Kim (2014) convolutional text classifiers, and image CNNs on the same engine."""

__version__ = "0.1.0"

from textcnn.engine.bundle import Bundle, load_bundle  # noqa: E402
from textcnn.engine.predictor import Prediction, Predictor  # noqa: E402
from textcnn.models import create_model, list_models  # noqa: E402

__all__ = [
    "Bundle",
    "Prediction",
    "Predictor",
    "__version__",
    "create_model",
    "list_models",
    "load_bundle",
]
