"""DeT image transforms: sizes, exact ImageNet normalisation of known colours, flip and crop behaviour."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from icaa.model.transforms import IMAGENET_MEAN, IMAGENET_STD, EvalTransform, TrainTransform


def _solid(rgb, size=(300, 200)) -> Image.Image:
    return Image.new("RGB", size, tuple(rgb))


def test_eval_transform_resizes_any_aspect_to_224_square_and_normalises_exactly():
    out = EvalTransform()(_solid((255, 128, 0), size=(640, 360)))
    assert out.shape == (3, 224, 224) and out.dtype == torch.float32
    expected = [(v / 255 - m) / s for v, m, s in zip((255, 128, 0), IMAGENET_MEAN, IMAGENET_STD)]
    for channel, value in enumerate(expected):
        assert torch.allclose(out[channel], torch.tensor(value), atol=1e-6)


def test_train_transform_gives_224_crop_of_256_resize():
    out = TrainTransform(generator=torch.Generator().manual_seed(0))(_solid((10, 20, 30)))
    assert out.shape == (3, 224, 224)


def test_horizontal_flip_moves_left_colour_to_the_right():
    array = np.zeros((256, 256, 3), np.uint8)
    array[:, :128] = (255, 0, 0)  # left red, right black
    never = TrainTransform(flip_p=0.0, generator=torch.Generator().manual_seed(0))(array)
    always = TrainTransform(flip_p=1.0, generator=torch.Generator().manual_seed(0))(array)
    red = (1 - IMAGENET_MEAN[0]) / IMAGENET_STD[0]
    assert torch.isclose(never[0, 100, 0], torch.tensor(red), atol=1e-5)
    assert torch.isclose(always[0, 100, -1], torch.tensor(red), atol=1e-5)


def test_random_crops_are_reproducible_with_a_seed_and_vary_without():
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8))
    a = TrainTransform(generator=torch.Generator().manual_seed(5))(image)
    b = TrainTransform(generator=torch.Generator().manual_seed(5))(image)
    assert torch.equal(a, b)
    crops = {TrainTransform(flip_p=0.0, generator=torch.Generator().manual_seed(s))(image)[0, 0, 0].item()
             for s in range(8)}
    assert len(crops) > 1


def test_grey_and_rgba_inputs_become_rgb_and_bad_arrays_raise():
    assert EvalTransform()(Image.new("L", (50, 50), 128)).shape == (3, 224, 224)
    assert EvalTransform()(Image.new("RGBA", (50, 50), (1, 2, 3, 4))).shape == (3, 224, 224)
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        EvalTransform()(np.zeros((10, 10), np.float32))
    with pytest.raises(ValueError, match="larger than the resized"):
        TrainTransform(size=300, resize=256)
