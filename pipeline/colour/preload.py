"""Importing this module builds the colour analysis's lookup tables in the importing process.

harmony-score's local workers are forked from a fork server that imports this module, so each worker
starts with the tables built once instead of building them on its first image: OpenCV's CIELAB tables
(about 0.1 s of CPU), the hue-template distance spectra and the hue-histogram geometry. OpenCV is set to
one thread first, as every worker runs it: a fork server must not hold a thread pool when it forks.
"""

from __future__ import annotations

import cv2
import numpy as np

from icaa.pipeline.colour.dominant import analyse_colours

cv2.setNumThreads(1)
analyse_colours(np.linspace(0.0, 1.0, 8 * 8 * 3, dtype=np.float32).reshape(8, 8, 3))
