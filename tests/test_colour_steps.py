"""The named steps of analyse_colours, each on images of known colour."""

from __future__ import annotations

import numpy as np
import pytest

from icaa.pipeline.colour.dominant import (
    achromatic_levels, analyse_colours, class_scores, colour_masses, decide_class, figure_ground_weights,
    pixel_colours, pixel_families, representative_colours,
)
from icaa.pipeline.colour.naming import ACHROMATIC_INDEX


def image(*colours_and_widths, height=16) -> np.ndarray:
    """Vertical stripes: (rgb in 0..1, width in pixels), left to right."""
    stripes = [np.tile(np.array(rgb, np.float32), (height, width, 1)) for rgb, width in colours_and_widths]
    return np.concatenate(stripes, axis=1)


def steps(rgb, **options):
    pixels = pixel_colours(rgb)
    weights, _ = figure_ground_weights(pixels, suppress_background=False)
    masses = colour_masses(pixels, weights, pixel_families(pixels, weights, **options))
    return pixels, weights, masses


def test_pixel_colours_marks_grey_pixels_achromatic_and_gives_vivid_ones_full_chroma_credit():
    pixels = pixel_colours(image(((1.0, 0.0, 0.0), 4), ((0.5, 0.5, 0.5), 4)))
    assert pixels.chromatic.reshape(16, 8)[:, :4].all() and not pixels.chromatic.reshape(16, 8)[:, 4:].any()
    assert pixels.chroma_credit.reshape(16, 8)[:, :4].min() == 1.0 and pixels.chroma_credit.max() == 1.0
    assert pixels.chromatic_hue.shape == (64,)
    assert pixels.lightness.reshape(16, 8)[0, 4] == pytest.approx(53.4, abs=0.2)


def test_pixel_colours_area_averages_large_images_to_the_analysis_size():
    pixels = pixel_colours(np.zeros((400, 200, 3), np.uint8), analysis_long_side_px=96)
    assert pixels.rgb.shape == (96, 48, 3) and pixels.lab.shape == (96 * 48, 3)


def test_pixel_colours_refuses_a_wrong_shape_or_hue_space():
    with pytest.raises(ValueError, match="3 channels last"):
        pixel_colours(np.zeros((4, 4)))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        pixel_colours(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="family_hue"):
        pixel_colours(np.zeros((4, 4, 3)), family_hue="lab")


def test_figure_ground_weights_down_weight_a_white_backdrop_around_a_coloured_figure_only():
    rgb = np.ones((40, 40, 3), np.float32)
    rgb[10:30, 10:30] = (0.1, 0.3, 0.9)
    weights, fraction = figure_ground_weights(pixel_colours(rgb), background_weight=0.25)
    assert fraction == pytest.approx(0.75) and sorted(np.unique(weights)) == [0.25, 1.0]
    grey_figure = rgb.copy()
    grey_figure[10:30, 10:30] = 0.4
    weights, fraction = figure_ground_weights(pixel_colours(grey_figure))
    assert fraction == 0.0 and (weights == 1.0).all()


def test_pixel_families_name_each_stripe_and_leave_greys_achromatic():
    _, _, masses = steps(image(((1.0, 0.0, 0.0), 2), ((0.0, 0.6, 0.0), 2), ((0.0, 0.0, 1.0), 2), ((0.5, 0.5, 0.5), 2)))
    assert masses.classes.reshape(16, 8)[0].tolist() == [0, 0, 3, 3, 4, 4, ACHROMATIC_INDEX, ACHROMATIC_INDEX]


def test_colour_masses_give_a_weak_colour_partly_to_grey():
    _, _, masses = steps(image(((1.0, 0.0, 0.0), 4), ((0.5, 0.5, 0.5), 4)))
    assert masses.chromatic_fraction == pytest.approx(0.5)
    assert masses.chromatic_shares[0] == 1.0 and masses.all_shares.sum() == pytest.approx(1.0)
    beige = (0.80, 0.74, 0.64)   # C* about 13: less than half credited as colour
    _, _, masses = steps(image((beige, 8)))
    assert 0.3 < masses.chromatic_fraction < 0.5


def test_class_scores_and_decision_pick_the_pair_or_the_single_colour():
    pixels, weights, masses = steps(image(((1.0, 0.0, 0.0), 4), ((0.0, 0.0, 1.0), 4)))
    scores = class_scores(pixels, masses, achromatic_levels(pixels, weights))
    assert len(scores) == 30 and max(scores, key=scores.get) == "complementary/red_blue"
    decision = decide_class(pixels, weights, masses, achromatic_levels(pixels, weights))
    assert (decision.category, decision.dominant, decision.auxiliary) == ("complementary/red_blue", "red", "blue")
    pixels, weights, masses = steps(image(((1.0, 0.0, 0.0), 9), ((0.0, 0.0, 1.0), 1)))
    decision = decide_class(pixels, weights, masses, achromatic_levels(pixels, weights), auxiliary_min_share=0.2)
    assert decision.category == "monochromatic/red" and decision.auxiliary is None


def test_decision_names_a_grey_photo_by_its_achromatic_level():
    pixels, weights, masses = steps(image(((0.95, 0.95, 0.95), 8)))
    assert decide_class(pixels, weights, masses, achromatic_levels(pixels, weights)).category == "monochromatic/white"
    pixels, weights, masses = steps(image(((0.05, 0.05, 0.05), 8)))
    assert decide_class(pixels, weights, masses, achromatic_levels(pixels, weights)).category == "monochromatic/black"


def test_achromatic_levels_split_greys_by_lightness_and_ignore_coloured_pixels():
    pixels = pixel_colours(image(((0.05, 0.05, 0.05), 2), ((0.5, 0.5, 0.5), 2), ((0.97, 0.97, 0.97), 4),
                                 ((1.0, 0.0, 0.0), 8)))
    levels = achromatic_levels(pixels, np.ones(len(pixels.chroma)))
    assert levels.fractions.tolist() == [0.25, 0.25, 0.5]
    assert levels.levels.reshape(16, 16)[0, :8].tolist() == [0, 0, 1, 1, 2, 2, 2, 2]


def test_representative_colours_are_each_familys_mean_lab():
    pixels, _, masses = steps(image(((1.0, 0.0, 0.0), 4), ((0.0, 0.0, 1.0), 4)))
    colours = representative_colours(pixels, masses)
    assert sorted(colours) == [0, 4]
    assert colours[0] == pytest.approx((53.24, 80.09, 67.20), abs=0.1)
    assert colours[4] == pytest.approx((32.30, 79.19, -107.86), abs=0.1)


def test_analyse_colours_is_the_steps_in_order():
    rgb = image(((1.0, 0.5, 0.0), 5), ((0.1, 0.3, 0.9), 3))
    pixels, weights, masses = steps(rgb)
    analysis = analyse_colours(rgb, suppress_background=False)
    levels = achromatic_levels(pixels, weights)
    assert analysis.class_scores == class_scores(pixels, masses, levels)
    assert analysis.category == decide_class(pixels, weights, masses, levels).category == "complementary/orange_blue"


def test_figure_weights_stops_early_only_when_no_border_colour_can_be_a_white_or_black_backdrop():
    from icaa.pipeline.colour.conversion import srgb_to_lab
    from icaa.pipeline.colour.figure_ground import figure_weights

    rgb = np.full((48, 64, 3), 0.5, np.float32)  # mid-grey ground (L* 53) around a red square
    rgb[16:32, 24:40] = (1.0, 0.0, 0.0)
    lab = srgb_to_lab(rgb)
    chroma = np.hypot(lab[..., 1], lab[..., 2])
    weights, fraction = figure_weights(lab, chroma)
    assert fraction == pytest.approx(1 - 16 * 16 / (48 * 64)) and weights.min() == 0.25
    weights, fraction = figure_weights(lab, chroma, backdrop_lightness=(20.0, 80.0))
    assert fraction == 0.0 and weights.min() == 1.0
    # A light grey ground (L* 77) is within reach of a white backdrop: searched as before.
    lab_light = srgb_to_lab(np.where(rgb == 0.5, np.float32(0.75), rgb))
    assert figure_weights(lab_light, np.hypot(lab_light[..., 1], lab_light[..., 2]),
                          backdrop_lightness=(20.0, 80.0))[1] > 0.5
