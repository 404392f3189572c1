"""The fork server that local worker processes start from, started as early as a stage wants it.

A stage run with ``--workers N`` computes in this process and in ``N - 1`` children forked from a fork
server, which imports the stage's modules once (numpy, pyarrow, OpenCV, the colour tables: a few tenths
of a second of CPU). Started before this process does its own imports, the server does that work on
another core at the same time, and the first child can take a chunk as soon as there is one. Standard
library only, so that starting it costs nothing.
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
import threading
from collections.abc import Sequence

__all__ = ["worker_context", "start_fork_server"]


def worker_context(preload: Sequence[str]):
    """The multiprocessing context of local workers: a fork server preloading ``__main__`` and ``preload``
    (``spawn`` where there is no fork server, on Windows)."""
    context = multiprocessing.get_context("forkserver" if sys.platform != "win32" else "spawn")
    if context.get_start_method() == "forkserver":
        # Every child runs the main script again (as __mp_main__) when it starts; preloaded here, its imports
        # are already done in the child. A later run in this process reuses the server.
        context.set_forkserver_preload(["__main__", *preload])
    return context


def start_fork_server(preload: Sequence[str]):
    """Start the fork server now (it imports ``preload`` in the background) with SIGINT ignored, which it
    and every child forked from it inherit; return the context.

    The server imports the preloaded modules before it protects itself from ^C, so a Ctrl-C during that
    start-up would print a traceback from it.
    """
    context = worker_context(preload)
    if context.get_start_method() != "forkserver" or threading.current_thread() is not threading.main_thread():
        return context
    from multiprocessing import forkserver

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        forkserver.ensure_running()
    finally:
        signal.signal(signal.SIGINT, previous)
    return context
