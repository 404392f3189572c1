"""Output safety shared by the stages: no output may be an input, two outputs may not be one file, and an
existing folder is written into only when the user asked for it.

Every check runs before any work, so a refused command has changed nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from icaa.common.errors import IcaaError

__all__ = ["same_file", "refuse_overwriting_inputs", "refuse_nonempty_folder"]

PathLike = Path | str


def same_file(first: PathLike, second: PathLike) -> bool:
    """Whether two paths name one file: equal once resolved, or the same inode (a hard link)."""
    first, second = Path(first), Path(second)
    if first.resolve() == second.resolve():
        return True
    try:
        return os.path.samefile(first, second)
    except OSError:  # one of them does not exist yet
        return False


def refuse_overwriting_inputs(outputs: Mapping[str, PathLike | None], inputs: Mapping[str, PathLike | None]) -> None:
    """Raise IcaaError when an output path is one of the inputs or two outputs are the same file.

    ``outputs`` and ``inputs`` map the option name the user typed (``-o``, ``--rejects``, ``IMAGES``) to a
    path; ``None`` entries are ignored.

    >>> refuse_overwriting_inputs({"-o": "a.parquet"}, {"IMAGES": "b.parquet"})
    """
    given_outputs = [(name, path) for name, path in outputs.items() if path is not None]
    for name, path in given_outputs:
        for input_name, input_path in inputs.items():
            if input_path is not None and same_file(path, input_path):
                raise IcaaError(f"{name} {path} is the input {input_name}; writing it would destroy the input, "
                                f"so choose another output path")
    for index, (name, path) in enumerate(given_outputs):
        for other_name, other_path in given_outputs[index + 1:]:
            if same_file(path, other_path):
                raise IcaaError(f"{name} and {other_name} are the same file {path}; give each output its own path")


def refuse_nonempty_folder(folder: PathLike, *, flag: str, what: str) -> bool:
    """Raise IcaaError when ``folder`` exists with something in it, unless ``flag`` was given (the caller passes
    ``flag=""`` then). Returns whether the folder already holds files.

    ``what`` says what the command would do to it (``"replaces it"``), for the message.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise IcaaError(f"{folder} exists and is not a folder; choose another output path")
    occupied = folder.is_dir() and any(folder.iterdir())
    if occupied and flag:
        raise IcaaError(f"{folder} already holds files and this command {what}; add {flag} to allow that, "
                        f"or choose a new folder")
    return occupied
