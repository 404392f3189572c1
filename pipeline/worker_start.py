"""How local worker processes start: forked from this process where that is safe, else from a fork server.

A stage run with ``--workers N`` computes in this process and in ``N - 1`` children. On Linux, when the
forking thread is this process's only Python thread (as in ``icaa-data``), this process imports the stage's
modules and builds its lookup tables (the ``preload`` modules) once, then forks the children before it
starts a thread of its own: each child begins with everything loaded, at once, and no second interpreter
repeats the imports while this one does them (two processes importing at the same time slowed each other by
about 0.1 s on a 2-core VM, and a fork server's child began about 0.15 s after this process). The other
threads by then belong to libraries that re-initialise after a fork (OpenBLAS, Arrow's thread pools,
jemalloc).

Elsewhere a fork server starts the children: where ``fork`` is unsafe (macOS's system libraries), and in a
process with other Python threads (a notebook kernel, a Dask client), one of which could hold a lock that a
forked child would wait on for ever. Started as early as the stage wants it, the server imports the modules
on another core while this process does its own; Windows spawns. Standard library only, so that importing
this module costs nothing.
"""

from __future__ import annotations

import importlib
import multiprocessing
import signal
import sys
import threading
from collections.abc import Sequence

__all__ = ["FORKS_FROM_HERE", "worker_context", "start_early"]

#: Children may be forked from this process (Linux); else they come from a fork server (macOS, BSDs) or are
#: spawned (Windows).
FORKS_FROM_HERE = sys.platform.startswith("linux")


def _start_method() -> str:
    if FORKS_FROM_HERE and threading.active_count() == 1:
        return "fork"
    return "forkserver" if sys.platform != "win32" else "spawn"


def worker_context(preload: Sequence[str]):
    """The multiprocessing context of local workers, with ``preload`` imported where the children start.

    Forking (Linux, while the calling thread is this process's only Python thread): the modules are
    imported here, now, so that the children inherit them; fork the children before starting any thread.
    Fork server: started now if it is not running (it imports the modules and ``__main__``, with SIGINT
    ignored, see :func:`_ensure_fork_server`). Python 3.11's server skips ``__main__``: it asks for the key
    ``main_path`` where the preparation data says ``init_main_from_path``, so each child runs the main script
    again as ``__mp_main__``, cheaply once the server holds the modules that script imports.
    """
    context = multiprocessing.get_context(_start_method())
    if context.get_start_method() == "fork":
        for name in preload:
            importlib.import_module(name)
    elif context.get_start_method() == "forkserver":
        context.set_forkserver_preload(["__main__", *preload])
        _ensure_fork_server()
    return context


def start_early(preload: Sequence[str]) -> None:
    """Where the children will come from a fork server (not Linux), start it now, so that it imports ``preload``
    on another core while the command does its own imports; elsewhere do nothing (forked children need no
    start, and a server started for nothing would only compete for the CPU). Called by a command before its
    own imports."""
    if FORKS_FROM_HERE or sys.platform == "win32":
        return
    worker_context(preload)


def _ensure_fork_server() -> None:
    """Start the fork server with SIGINT ignored, which it and every child inherit: a Ctrl-C while it imports
    the preloaded modules would otherwise print its traceback and break the pool. The server imports them
    before it protects itself from ^C, so in a thread other than the main one (where signals cannot be
    set) it starts without this protection."""
    from multiprocessing import forkserver

    if threading.current_thread() is not threading.main_thread():
        forkserver.ensure_running()
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        forkserver.ensure_running()
    finally:
        signal.signal(signal.SIGINT, previous)
