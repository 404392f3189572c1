"""``icaa-train``: train, evaluate and predict with DeT (not built yet)."""

from __future__ import annotations

import sys

__all__ = ["main"]


def main() -> None:
    """Entry point of the ``icaa-train`` console script."""
    print("icaa-train is not built yet: the DeT model and its training CLI come with the model issue.", file=sys.stderr)
    sys.exit(2)
