import torch
import torch.nn.functional as F

from textcnn.image.augment import ImageTransform, cutout, random_crop, random_flip
from textcnn.image.processor import ImageProcessor


def batch(n: int = 16, size: int = 8) -> torch.Tensor:
    return torch.arange(n * 3 * size * size, dtype=torch.float32).view(n, 3, size, size)


def test_random_crop_takes_a_window_of_the_reflected_image() -> None:
    torch.manual_seed(0)
    x = batch()
    out = random_crop(x, 2)
    assert out.shape == x.shape
    padded = F.pad(x, (2, 2, 2, 2), mode="reflect")
    for image, source in zip(out, padded, strict=True):
        windows = [source[:, i : i + 8, j : j + 8] for i in range(5) for j in range(5)]
        assert any(torch.equal(image, w) for w in windows)
    assert not torch.equal(out, x)
    assert torch.equal(random_crop(x, 0), x)


def test_random_flip_mirrors_about_half() -> None:
    torch.manual_seed(0)
    x = batch(200)
    out = random_flip(x)
    flipped = [torch.equal(o, i.flip(-1)) for o, i in zip(out, x, strict=True)]
    assert all(f or torch.equal(o, i) for f, o, i in zip(flipped, out, x, strict=True))
    assert 60 < sum(flipped) < 140


def test_cutout_zeroes_one_square_at_most() -> None:
    torch.manual_seed(0)
    x = torch.ones(50, 3, 16, 16)
    out = cutout(x, 4)
    zeros = (out[:, 0] == 0).sum(dim=(1, 2))
    assert (zeros <= 16).all() and (zeros > 0).all()
    assert torch.equal(out[:, 0] == 0, out[:, 2] == 0)


def test_transform_normalises_and_augments_uint8_batches() -> None:
    processor = ImageProcessor(8, (0.5, 0.4, 0.3), (0.2, 0.2, 0.2))
    pixels = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8)
    transform = ImageTransform(processor, crop_padding=2, cutout=3, channels_last=True)
    assert torch.equal(transform.eval(pixels), processor.normalize(pixels))
    out = transform.train(pixels)
    assert out.dtype == torch.float32 and out.shape == (4, 3, 8, 8)
    assert out.is_contiguous(memory_format=torch.channels_last)
