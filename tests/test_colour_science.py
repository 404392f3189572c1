"""Pure colour functions against exact values (notes/colour-science.md section 6) and colour-science."""

from __future__ import annotations

import colour
import cv2
import numpy as np
import pytest

from icaa.pipeline.colour import (
    analyse_colours, colourfulness_HaslerSusstrunk2003, fit_hue_templates, harmony_OuLuo2006,
    hsv_hue_to_ryb, lab_to_lch, ryb12_index, srgb_to_hsv, srgb_to_lab,
)
from icaa.pipeline.categories import HUE_FAMILIES
from icaa.pipeline.colour.conversion import oklab_hue_deg
from icaa.pipeline.colour.dominant import colour_masses, pixel_colours, pixel_families
from icaa.pipeline.colour.naming import hue_family, hue_mode_families, hue_modes, pixel_classes, tone_class


def solid(rgb, size=(40, 40)) -> np.ndarray:
    return np.tile(np.array(rgb, np.uint8), (*size, 1))


def split(rgb_a, rgb_b, share_a=0.5, size=(40, 40)) -> np.ndarray:
    image = solid(rgb_b, size)
    image[:, : int(round(size[1] * share_a))] = rgb_a
    return image


def family_shares(image, **options) -> dict[str, float]:
    """Each family's share of the colour mass, through the analysis steps (no backdrop in these images)."""
    pixels = pixel_colours(image)
    weights = np.ones(len(pixels.chroma))
    masses = colour_masses(pixels, weights, pixel_families(pixels, weights, **options))
    return dict(zip(HUE_FAMILIES + ("achromatic",), masses.all_shares.tolist()))


def reference_lab(rgb_uint8) -> np.ndarray:
    return colour.XYZ_to_Lab(colour.sRGB_to_XYZ(np.asarray(rgb_uint8, np.float64) / 255.0))


# -- conversions -------------------------------------------------------------------------------------------

def test_lab_agrees_with_colour_science_within_half_a_delta_e():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(500, 3)).astype(np.uint8)
    difference = np.linalg.norm(srgb_to_lab(rgb) - reference_lab(rgb), axis=-1)
    assert difference.max() < 0.5


@pytest.mark.parametrize("shape", [(3,), (5, 3), (2, 4, 3), (2, 2, 2, 3)])
def test_conversions_keep_any_leading_shape_and_float32(shape):
    rgb = np.full(shape, 0.5, np.float32)
    for result in (srgb_to_lab(rgb), srgb_to_hsv(rgb), lab_to_lch(srgb_to_lab(rgb))):
        assert result.shape == shape and result.dtype == np.float32


def test_black_gray_and_nan_pixels_do_not_raise():
    rgb = np.array([[0, 0, 0], [0.5, 0.5, 0.5], [np.nan, 0.2, 0.1]], np.float32)
    assert np.isfinite(srgb_to_lab(rgb)).all() and np.isfinite(srgb_to_hsv(rgb)).all()
    assert analyse_colours(np.zeros((8, 8, 3), np.float32)).category == "monochromatic/black"


def test_bad_input_raises_value_error_saying_what_was_expected():
    with pytest.raises(ValueError, match="3 channels last"):
        srgb_to_lab(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="float sRGB"):
        srgb_to_hsv(np.zeros((2, 3), np.int64))


def test_kuler_wheel_maps_primaries_as_published():
    assert hsv_hue_to_ryb(np.array([0.0, 35.0, 60.0, 120.0, 240.0])).tolist() == [0.0, 60.0, 122.0, 165.0, 275.0]
    # sRGB blue lands on blue-violet (9), sRGB red on red (0), Kuler's azure on blue (8).
    assert ryb12_index(np.array([240.0, 0.0, 203.0])).tolist() == [9, 0, 8]


def test_hue_families_and_tones_follow_colour_names():
    assert hue_family(np.array([0, 20, 55, 120, 210, 280, 330])).tolist() == [0, 1, 2, 3, 4, 5, 0]
    assert tone_class("red", 65.5, 65.1) == "pink"            # hot pink
    assert tone_class("red", 81.1, 28.4) == "lightpink"       # CSS lightpink


# -- classes of synthetic images ---------------------------------------------------------------------------

@pytest.mark.parametrize("rgb, expected", [
    ((139, 69, 19), "monochromatic/darkorange"),
    ((128, 128, 0), "monochromatic/darkyellow"),
    ((0, 100, 0), "monochromatic/darkgreen"),
    ((173, 216, 230), "monochromatic/lightblue"),
    ((255, 182, 193), "monochromatic/lightpink"),
    ((20, 20, 20), "monochromatic/black"),
    ((128, 128, 128), "monochromatic/gray"),
    ((250, 250, 250), "monochromatic/white"),
    ((255, 0, 0), "monochromatic/red"),
    ((0, 0, 255), "monochromatic/blue"),
    ((255, 255, 0), "monochromatic/yellow"),
])
def test_single_colour_images_get_their_named_class(rgb, expected):
    assert analyse_colours(solid(rgb)).category == expected


def test_half_red_half_blue_is_red_blue():
    analysis = analyse_colours(split((255, 0, 0), (0, 0, 255)))
    assert analysis.category == "complementary/red_blue"
    assert {analysis.dominant, analysis.auxiliary} == {"red", "blue"}


def test_ninety_percent_red_ten_percent_blue_is_monochromatic_red():
    analysis = analyse_colours(split((255, 0, 0), (0, 0, 255), share_a=0.9))
    assert analysis.category == "monochromatic/red" and analysis.dominant == "red"


def test_every_pair_of_families_gives_its_complementary_class():
    colours = {"red": (230, 20, 20), "orange": (255, 140, 0), "yellow": (250, 230, 20), "green": (30, 170, 40),
               "blue": (20, 60, 230), "violet": (150, 40, 200)}
    names = list(colours)
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            assert analyse_colours(split(colours[first], colours[second])).category == \
                f"complementary/{first}_{second}"



def test_one_colour_whose_shades_straddle_a_family_border_stays_one_colour():
    # An amber-to-gold gradient (OkLCh hue 71-95) is one surface; the orange/yellow border (80) cuts it.
    gradient = np.zeros((40, 60, 3), np.uint8)
    gradient[..., 0] = 255
    gradient[..., 1] = np.linspace(165, 215, 60).astype(np.uint8)
    analysis = analyse_colours(gradient)
    assert analysis.category == "monochromatic/yellow" and family_shares(gradient)["yellow"] == 1.0
    per_pixel = analyse_colours(gradient, family_from="pixel")
    assert per_pixel.category == "complementary/orange_yellow"
    assert family_shares(gradient, family_from="pixel")["orange"] == pytest.approx(22 / 60)


def test_two_distinct_colours_on_either_side_of_a_family_border_stay_two():
    two = split((255, 165, 0), (255, 215, 0))  # OkLCh 71 and 95, nothing between: two hue modes
    assert analyse_colours(two).category == "complementary/orange_yellow"


def test_hue_modes_wrap_around_red_and_cut_at_empty_valleys():
    modes, means, _ = hue_modes(np.array([350.0, 355.0, 359.0, 2.0, 8.0, 12.0, 180.0]), np.ones(7))
    assert modes.tolist() == [1, 1, 1, 1, 1, 1, 0]
    assert means[1] == pytest.approx(1.7, abs=0.05) and means[0] == pytest.approx(182.5)
    # A second peak behind a valley deeper than valley_ratio of it is its own mode, a shallower one is not.
    hues = np.repeat([101.0, 106.0, 111.0], [10, 4, 6])  # adjacent 5-degree bins, valley 4 between peaks 10 and 6
    assert len(set(hue_modes(hues, np.ones(len(hues)), smoothing_deg=0, valley_ratio=0.5)[0].tolist())) == 1
    assert len(set(hue_modes(hues, np.ones(len(hues)), smoothing_deg=0, valley_ratio=0.8)[0].tolist())) == 2


def test_a_hue_spread_too_wide_to_be_one_colour_keeps_per_pixel_families():
    # Hues spread evenly round the circle are one shallow mode whose mean means nothing: no single family.
    hues = np.linspace(0.0, 360.0, 720, endpoint=False)
    families = hue_mode_families(hues, np.ones(len(hues)), hue_space="oklch")
    assert families.tolist() == hue_family(hues, hue_space="oklch").tolist()
    # A narrow spread across a border is still one family.
    narrow = np.linspace(70.0, 95.0, 50)
    assert set(hue_mode_families(narrow, np.ones(len(narrow)), hue_space="oklch").tolist()) == {2}


def test_the_olive_rule_renames_no_xkcd_colour_called_yellow():
    # The 949 XKCD survey colours (matplotlib carries them): of those the rule moves from yellow to green,
    # none has "yellow" in its name; the others are browns and mud, and greens such as "mud green".
    from matplotlib._color_data import XKCD_COLORS

    names = [name.removeprefix("xkcd:") for name in XKCD_COLORS]
    rgb = np.array([[int(code[i:i + 2], 16) / 255 for i in (1, 3, 5)] for code in XKCD_COLORS.values()], np.float32)
    lab = srgb_to_lab(rgb.reshape(-1, 1, 3)).reshape(-1, 3)
    lightness, chroma, hue = lab[:, 0], np.hypot(lab[:, 1], lab[:, 2]), oklab_hue_deg(rgb)
    with_rule = pixel_classes(lightness, chroma, hue, hue_space="oklch")
    without = pixel_classes(lightness, chroma, hue, hue_space="oklch", olive_below_lightness=0)
    renamed = [names[i] for i in np.flatnonzero(with_rule != without)]
    assert len(renamed) >= 10 and not [name for name in renamed if "yellow" in name], renamed
    assert {"mud green", "brownish green", "olive brown"} <= set(renamed)


def test_hue_mode_families_name_dark_yellow_modes_green_by_their_mean_lightness():
    hues = np.array([100.0, 101.0, 102.0, 250.0])
    # Mean L* of the yellow mode 40 (weighted 1:1:2): green; the blue mode is untouched.
    families = hue_mode_families(hues, np.array([1.0, 1.0, 2.0, 1.0]), lightness=np.array([60.0, 60.0, 20.0, 30.0]))
    assert families.tolist() == [3, 3, 3, 4]
    # Weighted towards the light pixels the mean is 50: yellow.
    families = hue_mode_families(hues, np.array([2.0, 1.0, 1.0, 1.0]), lightness=np.array([60.0, 60.0, 20.0, 30.0]))
    assert families.tolist() == [2, 2, 2, 4]
    # Pixels that weigh nothing are named by their plain mean L* (a light yellow stays yellow).
    assert hue_mode_families(hues[:3], np.zeros(3), lightness=np.full(3, 80.0)).tolist() == [2, 2, 2]
    assert hue_mode_families(hues[:3], np.zeros(3), lightness=np.full(3, 30.0)).tolist() == [3, 3, 3]

@pytest.mark.parametrize("family_from", ["hue_mode", "pixel"])
def test_a_dark_yellow_is_olive_and_named_green(family_from):
    # XKCD "mud green" #606602 (L* 41.1, OkLCh hue 114: the yellow band) is green, a dark one; XKCD "olive"
    # #6e750e (L* 46.9) and CSS olive #808000 (L* 51.9) stay ICAA17K's darkyellow.
    assert analyse_colours(solid((0x60, 0x66, 0x02)), family_from=family_from).category == "monochromatic/darkgreen"
    assert analyse_colours(solid((0x6e, 0x75, 0x0e)), family_from=family_from).category == "monochromatic/darkyellow"
    assert analyse_colours(solid((0x80, 0x80, 0x00)), family_from=family_from).category == "monochromatic/darkyellow"
    # The rule turned off, the mud green is a dark yellow again.
    assert analyse_colours(solid((0x60, 0x66, 0x02)), family_from=family_from,
                           olive_below_lightness=0).category == "monochromatic/darkyellow"
    # A yellow flower with olive-dark leaves of the same hue band: two colours, yellow and green.
    image = solid((255, 210, 0), (40, 40))  # OkLCh hue 93, 21 deg from the leaves: two hue modes
    image[:, 20:] = (0x60, 0x66, 0x02)
    analysis = analyse_colours(image, family_from=family_from)
    assert {analysis.dominant, analysis.auxiliary} == {"yellow", "green"}


def test_a_red_object_on_a_white_table_is_a_red_photo():
    image = solid((245, 245, 240), (100, 100))
    image[40:65, 35:70] = (200, 30, 30)  # 9 % of the pixels
    analysis = analyse_colours(image)
    assert analysis.category == "monochromatic/red" and analysis.background_fraction > 0.8
    assert analyse_colours(image, suppress_background=False).category == "monochromatic/white"


def test_class_scores_cover_all_30_classes_and_favour_the_chosen_one():
    analysis = analyse_colours(split((255, 0, 0), (0, 0, 255)))
    assert len(analysis.class_scores) == 30
    assert max(analysis.class_scores, key=analysis.class_scores.get) == "complementary/red_blue"
    assert 0 < analysis.category_confidence <= 1


# -- harmony scores ------------------------------------------------------------------------------------------

def test_two_hues_180_degrees_apart_fit_template_i_with_distance_zero():
    fit = fit_hue_templates(np.array([0.0, 180.0]), np.ones(2))
    assert (fit.template, fit.distance_deg) == ("I", 0.0)
    assert fit.distances_deg["i"] == pytest.approx(81.0)
    assert fit.distances_deg["V"] == pytest.approx(43.2)
    assert fit.distances_deg["L"] == pytest.approx(20.7) and fit.distances_deg["mirror_L"] == pytest.approx(20.7)


def test_two_hues_90_degrees_apart_fit_template_v():
    fit = fit_hue_templates(np.array([0.0, 90.0]), np.ones(2))
    assert fit.template == "V" and fit.distance_deg == 0.0
    assert fit.distances_deg["i"] == pytest.approx(36.0) and fit.distances_deg["I"] == pytest.approx(36.0)


def test_uniform_hues_are_the_null_model_of_every_template():
    from icaa.pipeline.colour.templates import template_skills, uniform_hue_distances_deg

    null = uniform_hue_distances_deg()
    assert {name: round(value, 1) for name, value in null.items()} == {
        "i": 81.2, "V": 49.3, "L": 35.2, "mirror_L": 35.2, "I": 36.5, "T": 22.5, "Y": 21.4, "X": 10.4}
    assert template_skills(null) == dict.fromkeys(null, 0.0)
    assert template_skills(dict.fromkeys(null, 0.0)) == dict.fromkeys(null, 1.0)


def test_harmony_score_orders_the_textbook_palettes():
    """One hue > analogous (i misses) > complementary (i, V, L miss a hue; Ou & Luo 2006 also rank small hue
    differences higher) > a random-hue mosaic, which scores about 0: exact values of the mean template skill."""
    def harmony(hues):
        return fit_hue_templates(np.asarray(hues, float), np.ones(len(hues))).harmony

    single, analogous = harmony(np.full(10, 123.0)), harmony([0.0, 30.0, 60.0])
    complementary = harmony([0.0, 180.0])
    mosaic = harmony(np.random.default_rng(0).uniform(0, 360, 5000))
    assert single == 1.0
    assert analogous == pytest.approx(1 - (14.0 / 81.2 + 14.0 / 36.5) / 8, abs=0.002)
    assert complementary == pytest.approx(0.6175, abs=0.001)
    assert mosaic == pytest.approx(0.0, abs=0.03)
    assert single > analogous > complementary > mosaic


def test_harmony_score_of_a_photo_made_of_textbook_palettes_keeps_their_order():
    rng = np.random.default_rng(3)

    def mosaic(hues_deg):
        tiles = np.asarray(hues_deg)[rng.integers(0, len(hues_deg), (12, 12))]
        hsv = np.stack([tiles / 2.0, np.full_like(tiles, 220), np.full_like(tiles, 220)], -1).astype(np.uint8)
        return cv2.cvtColor(np.kron(hsv, np.ones((8, 8, 1), np.uint8)), cv2.COLOR_HSV2RGB)

    scores = [analyse_colours(mosaic(hues)).harmony["harmony_score"]
              for hues in ([200.0], [170.0, 200.0, 230.0], [20.0, 200.0], rng.uniform(0, 360, 40))]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0.99 and scores[-1] < 0.3, scores


def test_grey_images_fit_template_n_and_faint_hues_count_in_proportion_to_their_saturation():
    grey = fit_hue_templates(np.full(10, 0.0), np.zeros(10))
    assert grey.template == "N" and grey.harmony == 1.0 and np.isnan(grey.rotation_deg)
    hues = np.random.default_rng(0).uniform(0, 360, 5000)
    vivid = fit_hue_templates(hues, np.full(5000, 0.8)).harmony
    faint = fit_hue_templates(hues, np.full(5000, 0.05))
    assert faint.template == "N"
    assert faint.harmony == pytest.approx(1 - 0.5 * (1 - vivid), abs=1e-9)


def test_template_fit_from_the_histogram_matches_a_per_pixel_sum():
    rng = np.random.default_rng(1)
    hues, saturation = rng.uniform(0, 360, 2000), rng.uniform(0, 1, 2000)
    fit = fit_hue_templates(hues, saturation)
    alpha = fit.rotation_deg
    from icaa.pipeline.colour.templates import TEMPLATES
    distance = np.full(hues.shape, np.inf)
    for centre, width in TEMPLATES[fit.template]:
        arc = np.abs((hues - (alpha + centre) + 180) % 360 - 180)
        distance = np.minimum(distance, np.maximum(0, arc - width / 2))
    per_pixel = (distance * saturation).sum() / saturation.sum()
    assert abs(per_pixel - fit.distance_deg) < 0.5


def test_template_costs_of_every_rotation_equal_a_direct_sum_over_the_histogram():
    """The FFT over one distance profile per template stands for all 360 rotations of the template."""
    from icaa.pipeline.colour.templates import TEMPLATES, hue_template_distances

    histogram = np.random.default_rng(4).uniform(0, 1, 360) ** 4
    weights = histogram / histogram.sum()
    bin_centres = np.arange(360) + 0.5
    for name, (best_alpha, best_cost) in hue_template_distances(histogram).items():
        costs = []
        for alpha in range(360):
            distance = np.full(360, np.inf)
            for centre, width in TEMPLATES[name]:
                arc = np.abs((bin_centres - (alpha + centre) + 180) % 360 - 180)
                distance = np.minimum(distance, np.maximum(0, arc - width / 2))
            costs.append(float(distance @ weights))
        assert best_cost == pytest.approx(min(costs), abs=1e-9), name
        assert costs[int(best_alpha)] == pytest.approx(min(costs), abs=1e-9), name


def test_hasler_colourfulness_of_half_red_half_blue_is_272_6():
    assert colourfulness_HaslerSusstrunk2003(split((255, 0, 0), (0, 0, 255))) == pytest.approx(272.6, abs=0.5)
    assert colourfulness_HaslerSusstrunk2003(solid((128, 128, 128))) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("rgb_1, rgb_2, expected, tolerance", [
    ((0, 0, 0), (255, 255, 255), 0.546, 0.001),
    # The notes' 0.757 came from another sRGB->Lab path; the equations by hand on colour-science Lab give 0.765.
    ((255, 255, 255), (255, 182, 193), 0.757, 0.01),
    ((255, 0, 0), (0, 128, 0), -0.861, 0.003),
])
def test_ou_luo_harmony_matches_published_implementations(rgb_1, rgb_2, expected, tolerance):
    value = float(harmony_OuLuo2006(reference_lab(rgb_1), reference_lab(rgb_2)))
    assert value == pytest.approx(expected, abs=tolerance)
    assert float(harmony_OuLuo2006(reference_lab(rgb_2), reference_lab(rgb_1))) == pytest.approx(value)


def test_every_registered_measure_fills_exactly_its_declared_columns_and_the_schema_lists_them():
    from icaa.pipeline.colour.measures import HARMONY_COLUMNS, HARMONY_MEASURES
    from icaa.pipeline.schemas import COLOUR

    assert list(HARMONY_MEASURES) == ["CohenOr2006", "OuLuo2006", "HaslerSusstrunk2003"]
    row = analyse_colours(split((255, 0, 0), (0, 0, 255))).harmony
    assert list(row) == [column.name for column in HARMONY_COLUMNS]
    assert {column.name for column in HARMONY_COLUMNS} <= set(COLOUR.names)
    assert row["harmony_template"] == "L" and row["colourfulness_m3"] == pytest.approx(272.6, abs=0.5)
    assert row["harmony_ou_luo"] == pytest.approx(float(harmony_OuLuo2006(reference_lab((255, 0, 0)),
                                                                          reference_lab((0, 0, 255)))), abs=0.05)


def test_a_measure_returning_undeclared_columns_is_refused(monkeypatch):
    from icaa.pipeline.colour import measures

    broken = measures.HarmonyMeasure("Broken2024", "nobody", (measures.MeasureColumn("a", "float64", "a"),),
                                     lambda measure_input: {"b": 1.0})
    monkeypatch.setitem(measures.HARMONY_MEASURES, "Broken2024", broken)
    with pytest.raises(ValueError, match="Broken2024 returned columns"):
        analyse_colours(solid((255, 0, 0)))


def test_cube_root_nonnegative_matches_numpy_over_the_float_range():
    from icaa.pipeline.colour.conversion import cube_root_nonnegative

    values = np.concatenate([[0.0], np.geomspace(1e-30, 1e30, 20_001)]).astype(np.float32)
    expected = np.cbrt(values.astype(np.float64))
    relative = np.abs(cube_root_nonnegative(values) - expected)[1:] / expected[1:]
    assert relative.max() < 3e-6
    assert cube_root_nonnegative(values)[0] < 1e-12
