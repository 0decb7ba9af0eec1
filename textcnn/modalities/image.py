"""The image modality: folders or tars of images, normalised pixels, image CNN training."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from PIL import Image

from textcnn.errors import InputError
from textcnn.image.data import ImageDataset, read_image_dataset, split_names
from textcnn.image.options import ImageTrainOptions
from textcnn.image.processor import ImageProcessor
from textcnn.modalities.evaluation import store_evaluation
from textcnn.modalities.registry import (
    InputSpec,
    Modality,
    ModalityExport,
    NoReadOptions,
    Serving,
    register_modality,
)

if TYPE_CHECKING:
    from textcnn.engine.bundle import Bundle
    from textcnn.engine.predictor import Prediction, Predictor

THUMBNAIL = 48  # longest side, in pixels, of a mistaken image's thumbnail in a report


def thumbnail(image: torch.Tensor, size: int = THUMBNAIL) -> str:
    """A ``uint8 [3, H, W]`` image as a base64 PNG at most ``size`` pixels a side."""
    picture = Image.fromarray(image.permute(1, 2, 0).cpu().numpy())
    picture.thumbnail((size, size))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _image_preprocessing(processor: Any) -> dict[str, Any]:
    return {
        "size": processor.size,
        "mean": list(processor.mean),
        "std": list(processor.std),
        "flip_tta": processor.flip_tta,
        "steps": [
            "decode to 8-bit RGB, upright by its EXIF orientation, transparency composited "
            "onto white",
            "resize the shorter side to size and centre-crop to size x size, in one bicubic "
            "resampling",
            "to float32 [batch, 3, size, size] (channels first): (pixel / 255 - mean) / std "
            "per channel",
            "flip_tta is inside the network (logits averaged with the mirror image's): "
            "nothing to do",
        ],
    }


def _image_sample(bundle: Bundle) -> torch.Tensor:
    size = bundle.processor.size
    return torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))


@register_modality
class ImageModality(Modality):
    """Folders or tars of labelled images in; image CNNs (ResNet by default) out."""

    name = "image"
    processor = ImageProcessor
    options = ImageTrainOptions
    input_type = "image"
    command = "train-image"
    summary = "train an image classifier (ResNet by default) on <class>/<image> folders"
    data_help = (
        "folder or tar of <class>/<image> files; a root holding train/ (and test/) "
        "folders uses train/ (and test/ unless --test is given)"
    )
    export = ModalityExport(
        input=lambda processor: InputSpec(
            "pixels", ("batch", 3, processor.size, processor.size), "float32"
        ),
        sample=_image_sample,
        preprocessing=_image_preprocessing,
    )

    def read(self, path: Path, options: NoReadOptions) -> ImageDataset:
        return read_image_dataset(path)

    def read_training(self, path: Path, options: NoReadOptions) -> tuple[ImageDataset, Path | None]:
        """The training images of ``path`` (its ``train/`` split when it has splits, like the
        CIFAR-10 archive) and the path of its ``test/`` split, if any."""
        splits = split_names(path)
        if not splits:
            return read_image_dataset(path), None
        return read_image_dataset(path / "train"), path / "test" if "test" in splits else None

    def train(
        self,
        data: ImageDataset,
        opts: ImageTrainOptions,
        *,
        labels: list[str] | None = None,
        dev: ImageDataset | None = None,
        test: ImageDataset | None = None,
        on_epoch: Callable[[dict[str, Any]], None] | None = None,
        warm_start: Bundle | None = None,
    ) -> Bundle:
        from textcnn.image.train import train_image

        return train_image(
            data,
            opts,
            dev,
            test,
            on_epoch=on_epoch,
            warm_start=warm_start,
            labels=labels,
            store_evaluation=store_evaluation,
        )

    def example_input(self) -> bytes:
        buffer = io.BytesIO()
        Image.new("RGB", (32, 32)).save(buffer, format="PNG")
        return buffer.getvalue()

    def report_item(self, item: torch.Tensor) -> dict[str, Any]:
        return {"image": thumbnail(item)}

    def serving(self, predictor: Predictor) -> Serving:
        """Requests decode to ``uint8`` pixels; each batch is normalised once, in ``forward``."""
        processor = predictor.processor

        def encode(items: Sequence[Any]) -> torch.Tensor:
            try:
                return processor.pixels(items)
            except Exception as exc:  # whatever a hostile file makes the decoder raise
                raise InputError(f"the image could not be decoded ({exc})") from exc

        def forward(pixels: torch.Tensor) -> list[Prediction]:
            return predictor.predict_encoded(processor.normalize(pixels))

        return Serving(encode, predictor.collate, forward)
