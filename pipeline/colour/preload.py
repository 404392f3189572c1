"""Importing this module builds the colour analysis's lookup tables in the importing process.

For processes that analyse images without running the command that builds the tables itself: Dask
workers (``dask worker --preload icaa.pipeline.colour.preload``) and a fork server's children, which
start with the tables built instead of building them on their first image (OpenCV's CIELAB tables, about
0.07 s of CPU, the hue-template spectra and the hue-histogram geometry; see
:mod:`icaa.pipeline.colour_tables`).
"""

from __future__ import annotations

from icaa.pipeline.colour_tables import build

build()
