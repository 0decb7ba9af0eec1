"""Modalities, registered by name: the kinds of input the engine classifies (text, image).

``get_modality(bundle.modality)`` gives everything modality-specific; ``textcnn`` registers
the built-in ones on import.
"""

from textcnn.modalities.registry import (
    InputSpec,
    Modality,
    ModalityExport,
    NoReadOptions,
    get_modality,
    list_modalities,
    register_modality,
)

__all__ = [
    "InputSpec",
    "Modality",
    "ModalityExport",
    "NoReadOptions",
    "get_modality",
    "list_modalities",
    "register_modality",
]
