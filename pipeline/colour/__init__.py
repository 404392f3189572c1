"""Pure colour science for the harmony-score stage: arrays in, arrays or numbers out.

No file handling here (see :mod:`icaa.pipeline.decode`). Channels last, any leading shape.
"""

from icaa.pipeline.colour.conversion import lab_to_lch, srgb_to_hsv, srgb_to_lab
from icaa.pipeline.colour.colourfulness import colourfulness_HaslerSusstrunk2003
from icaa.pipeline.colour.dominant import ColourAnalysis, analyse_colours
from icaa.pipeline.colour.harmony import harmony_OuLuo2006
from icaa.pipeline.colour.measures import HARMONY_MEASURES, harmony_measures
from icaa.pipeline.colour.templates import TEMPLATES, TemplateFit, fit_hue_templates, hue_template_distances
from icaa.pipeline.colour.naming import hue_family, pixel_classes
from icaa.pipeline.colour.wheel import hsv_hue_to_ryb, ryb12_index

__all__ = [
    "srgb_to_lab", "srgb_to_hsv", "lab_to_lch", "colourfulness_HaslerSusstrunk2003", "ColourAnalysis",
    "analyse_colours", "HARMONY_MEASURES", "harmony_measures", "harmony_OuLuo2006", "TEMPLATES", "TemplateFit",
    "fit_hue_templates", "hue_template_distances", "hue_family", "pixel_classes", "hsv_hue_to_ryb", "ryb12_index",
]
