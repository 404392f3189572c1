"""Run a console script's ``main`` in this process as a user's shell would: exit status, stdout, stderr."""

from __future__ import annotations

import sys


def run_main(main, argv: list[str], capsys, monkeypatch) -> tuple[int, str, str]:
    """``main()`` with ``sys.argv = argv``; returns (exit status, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", argv)
    capsys.readouterr()
    try:
        main()
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_sentence_error(err: str) -> str:
    """The error a failed command printed, checked to be a message, not a traceback."""
    assert "Traceback" not in err, err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert lines, "no message printed"
    return lines[-1]
