"""Build the colour analysis's lookup tables once per process, ahead of its first image.

OpenCV builds its CIELAB tables on the first Lab conversion (about 0.07 s of C++ that releases the GIL);
the analysis keeps its hue-template spectra and hue-histogram geometry after their first use.
:func:`build_in_background` starts OpenCV's part in a helper thread, so that it runs on a second core
while the command imports the rest of its modules; :func:`build` waits for that thread and builds
whatever is still missing in this one.

Call :func:`build` before this process analyses an image or forks a worker: OpenCV does not guard its
table initialisation against a second thread, and a fork must not copy a thread that is in the middle of
it. Kept outside :mod:`icaa.pipeline.colour`, whose package import would load the analysis first.
"""

from __future__ import annotations

import threading

__all__ = ["build_in_background", "build"]

_lock = threading.Lock()
_opencv_thread: threading.Thread | None = None
_built = False


def _build_opencv_tables() -> None:
    try:
        import cv2
        import numpy as np

        cv2.setNumThreads(1)  # as every worker runs it; a process that forks must not hold OpenCV's thread pool
        cv2.cvtColor(np.zeros((1, 1, 3), np.float32), cv2.COLOR_RGB2Lab)
    except BaseException:  # noqa: BLE001 - build() redoes it in the calling thread, where an error is reported
        pass


def build_in_background() -> None:
    """Start building OpenCV's CIELAB tables in a helper thread (once per process; it ends by itself)."""
    global _opencv_thread
    with _lock:
        if _opencv_thread is None and not _built:
            # Not a daemon: an interpreter that exits (an early error) while the thread is inside OpenCV aborts.
            _opencv_thread = threading.Thread(target=_build_opencv_tables, name="icaa-colour-tables")
            _opencv_thread.start()


def build() -> None:
    """Wait for :func:`build_in_background`, then build every table still missing here (once per process)."""
    global _built
    with _lock:
        if _built:
            return
        if _opencv_thread is not None:
            _opencv_thread.join()
        import cv2
        import numpy as np

        from icaa.pipeline.colour.dominant import analyse_colours

        cv2.setNumThreads(1)
        analyse_colours(np.linspace(0.0, 1.0, 8 * 8 * 3, dtype=np.float32).reshape(8, 8, 3))
        _built = True
