"""The harmony measures of harmony-score, in one registry keyed by author-year names.

Each measure names its source, declares the output columns it fills (name, type, meaning, unit, range,
direction) and computes them from a ``MeasureInput``. The per-image scorer (``analyse_colours``) and the
``colour`` table's schema both iterate ``HARMONY_MEASURES``, so a new measure is added here and nowhere else.

Measures:

* ``CohenOr2006``: Matsuda's hue templates fitted as in Cohen-Or et al. (2006), ICAA17K Eq. 6, and the
  ``harmony_score`` built from them (mean template skill against unstructured hues, see
  ``templates.fit_hue_templates``): the objective score ``fuse`` uses.
* ``OuLuo2006``: the Ou & Luo two-colour harmony model of the dominant and auxiliary (or next) colours.
* ``HaslerSusstrunk2003``: colourfulness M3.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from icaa.pipeline.colour.colourfulness import colourfulness_HaslerSusstrunk2003
from icaa.pipeline.colour.harmony import harmony_OuLuo2006
from icaa.pipeline.colour.templates import TEMPLATES, fit_hue_templates

__all__ = ["MeasureColumn", "MeasureInput", "HarmonyMeasure", "HARMONY_MEASURES", "HARMONY_COLUMNS",
           "harmony_measures"]


@dataclass(frozen=True)
class MeasureColumn:
    """One output column of a measure, documented as the table schema documents columns."""

    name: str
    dtype: str                     # "float64" or "string"
    description: str
    unit: str | None = None
    value_range: str | None = None
    direction: str | None = None   # "higher_better", "lower_better" or None


@dataclass(frozen=True)
class MeasureInput:
    """What a measure may look at: the analysed image and the colours the analysis found."""

    rgb: np.ndarray                              # sRGB (H, W, 3) in [0, 1], at the analysis size
    hue_deg: np.ndarray                          # HSV hue of every pixel, degrees (flat)
    saturation: np.ndarray                       # HSV saturation of every pixel, 0..1 (flat)
    dominant_lab: tuple[float, float, float] | None
    partner_lab: tuple[float, float, float] | None   # the auxiliary colour, else the next-largest group
    grey_mean_saturation: float = 0.10


@dataclass(frozen=True)
class HarmonyMeasure:
    """A named harmony measure: its source, its columns and how to compute them."""

    name: str
    source: str
    columns: tuple[MeasureColumn, ...]
    compute: Callable[[MeasureInput], dict[str, object]]


def _cohen_or_2006(measure_input: MeasureInput) -> dict[str, object]:
    fit = fit_hue_templates(measure_input.hue_deg, measure_input.saturation,
                            grey_mean_saturation=measure_input.grey_mean_saturation)
    row: dict[str, object] = {
        "harmony_score": fit.harmony, "harmony_template": fit.template,
        "harmony_template_rotation_deg": fit.rotation_deg, "harmony_template_distance_deg": fit.distance_deg,
    }
    row.update({f"template_distance_{name}_deg": fit.distances_deg[name] for name in TEMPLATES})
    return row


def _ou_luo_2006(measure_input: MeasureInput) -> dict[str, object]:
    if measure_input.dominant_lab is None or measure_input.partner_lab is None:
        return {"harmony_ou_luo": float("nan")}
    return {"harmony_ou_luo": float(harmony_OuLuo2006(np.array(measure_input.dominant_lab),
                                                      np.array(measure_input.partner_lab)))}


def _hasler_susstrunk_2003(measure_input: MeasureInput) -> dict[str, object]:
    return {"colourfulness_m3": colourfulness_HaslerSusstrunk2003(measure_input.rgb)}


HARMONY_MEASURES: dict[str, HarmonyMeasure] = {
    "CohenOr2006": HarmonyMeasure(
        "CohenOr2006",
        "D. Cohen-Or et al., Color Harmonization, ACM TOG 25(3):624-630, 2006 (ICAA17K Eq. 6); templates of "
        "Matsuda 1995; the score is the mean skill (Murphy 1988) of each template against uniformly spread hues",
        (
            MeasureColumn("harmony_score", "float64", "objective harmony score: mean over the eight hue templates "
                          "of 1 - D_m / D_m(uniform hues); 1 for an image without hue (template N)",
                          value_range="0..1", direction="higher_better"),
            MeasureColumn("harmony_template", "string", "best Matsuda hue template (i, V, L, mirror_L, I, T, Y, X), "
                          "or N for images without saturated hues"),
            MeasureColumn("harmony_template_rotation_deg", "float64", "rotation alpha of the best template; null "
                          "for N", unit="deg", value_range="0..359"),
            MeasureColumn("harmony_template_distance_deg", "float64", "saturation-weighted mean arc distance of "
                          "hues to the best template; null for N", unit="deg", value_range="0..43.2",
                          direction="lower_better"),
            *(MeasureColumn(f"template_distance_{name}_deg", "float64", f"saturation-weighted mean arc distance "
                            f"of hues to template {name} at its best rotation", unit="deg", value_range="0..180",
                            direction="lower_better") for name in TEMPLATES),
        ),
        _cohen_or_2006,
    ),
    "OuLuo2006": HarmonyMeasure(
        "OuLuo2006",
        "L.-C. Ou, M. R. Luo, A colour harmony model for two-colour combinations, Color Res. Appl. 31(3):191-204, 2006",
        (MeasureColumn("harmony_ou_luo", "float64", "Ou & Luo 2006 two-colour harmony of the dominant and "
                       "auxiliary (or next) colours", value_range="about -1.3..1.5", direction="higher_better"),),
        _ou_luo_2006,
    ),
    "HaslerSusstrunk2003": HarmonyMeasure(
        "HaslerSusstrunk2003",
        "D. Hasler, S. Susstrunk, Measuring colourfulness in natural images, Proc. SPIE 5007:87-95, 2003",
        (MeasureColumn("colourfulness_m3", "float64", "Hasler & Susstrunk 2003 colourfulness M3",
                       value_range=">= 0 (109 extremely colourful)", direction="higher_better"),),
        _hasler_susstrunk_2003,
    ),
}

#: Every measure column, in registry order.
HARMONY_COLUMNS: tuple[MeasureColumn, ...] = tuple(column for measure in HARMONY_MEASURES.values()
                                                   for column in measure.columns)


def harmony_measures(measure_input: MeasureInput) -> dict[str, object]:
    """Every registered measure's columns for one image, in ``HARMONY_COLUMNS`` order.

    >>> rgb = np.zeros((4, 4, 3), np.float32); rgb[..., 0] = 1.0
    >>> row = harmony_measures(MeasureInput(rgb, np.zeros(16), np.ones(16), (53.2, 80.1, 67.2), None))
    >>> row["harmony_score"], row["harmony_template"]
    (1.0, 'i')
    """
    row: dict[str, object] = {}
    for measure in HARMONY_MEASURES.values():
        values = measure.compute(measure_input)
        expected = [column.name for column in measure.columns]
        if list(values) != expected:
            raise ValueError(f"measure {measure.name} returned columns {list(values)}, declared {expected}")
        row.update(values)
    return row
