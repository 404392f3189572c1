"""Image transforms of the published DeT training code, without torchvision.

Train: resize to 256 x 256 (aspect ratio not kept, as the authors' ``Resize((256, 256))``), random horizontal
flip, random 224 x 224 crop. Eval: resize to 224 x 224. Both end with ImageNet normalisation and give a
float32 ``(3, H, W)`` tensor. Resizing uses Pillow's bilinear filter, which is what torchvision applies to
PIL images. Randomness comes from ``torch`` (``generator=`` or the global RNG), so DataLoader worker seeding
and resumed runs reproduce the same crops.
"""

from __future__ import annotations

from pathlib import Path
from typing import Union

import numpy as np
import torch
from PIL import Image

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "load_rgb",
    "to_normalized_tensor",
    "TrainTransform",
    "EvalTransform",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

ImageLike = Union[Image.Image, np.ndarray, str, Path]


def load_rgb(image: ImageLike) -> Image.Image:
    """A PIL RGB image from a path, a PIL image (any mode) or an ``(H, W, 3)`` uint8 array."""
    if isinstance(image, (str, Path)):
        with Image.open(image) as opened:
            return opened.convert("RGB")
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 RGB array, got shape {image.shape} dtype {image.dtype}")
        return Image.fromarray(image, mode="RGB")
    if isinstance(image, Image.Image):
        return image if image.mode == "RGB" else image.convert("RGB")
    raise TypeError(f"expected a path, PIL image or uint8 array, got {type(image).__name__}")


def to_normalized_tensor(image: Image.Image) -> torch.Tensor:
    """PIL RGB -> float32 ``(3, H, W)``: values / 255, minus ImageNet mean, over ImageNet std."""
    array = np.asarray(image, dtype=np.float32) / 255.0
    array = (array - np.asarray(IMAGENET_MEAN, np.float32)) / np.asarray(IMAGENET_STD, np.float32)
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))


class EvalTransform:
    """Resize to ``size x size`` (bilinear) and normalise; ``__call__(image) -> (3, size, size)`` float32."""

    def __init__(self, size: int = 224) -> None:
        self.size = int(size)

    def __call__(self, image: ImageLike) -> torch.Tensor:
        return to_normalized_tensor(load_rgb(image).resize((self.size, self.size), Image.BILINEAR))

    def __repr__(self) -> str:
        return f"EvalTransform(size={self.size})"


class TrainTransform:
    """Resize to ``resize x resize``, flip horizontally with probability ``flip_p``, crop ``size x size`` at a
    uniformly random position, normalise; ``__call__(image) -> (3, size, size)`` float32."""

    def __init__(self, size: int = 224, resize: int = 256, flip_p: float = 0.5,
                 generator: torch.Generator | None = None) -> None:
        if size > resize:
            raise ValueError(f"crop size {size} is larger than the resized image {resize}")
        self.size, self.resize, self.flip_p = int(size), int(resize), float(flip_p)
        self.generator = generator

    def __call__(self, image: ImageLike) -> torch.Tensor:
        image = load_rgb(image).resize((self.resize, self.resize), Image.BILINEAR)
        if torch.rand((), generator=self.generator).item() < self.flip_p:
            image = image.transpose(Image.FLIP_LEFT_RIGHT)
        span = self.resize - self.size + 1
        top = int(torch.randint(span, (), generator=self.generator))
        left = int(torch.randint(span, (), generator=self.generator))
        return to_normalized_tensor(image.crop((left, top, left + self.size, top + self.size)))

    def __repr__(self) -> str:
        return f"TrainTransform(size={self.size}, resize={self.resize}, flip_p={self.flip_p})"
