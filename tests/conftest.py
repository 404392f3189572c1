"""Shared fixtures. Tests that read ../shared skip with a clear message where it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"
DEMO_DIR = REPO_ROOT / "data" / "demo"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the checkout; the test is skipped where it is absent (a user's clone)."""
    if not SHARED_DIR.is_dir():
        pytest.skip(f"reference material not found at {SHARED_DIR} (../shared is only present in the project's workspace)")
    return SHARED_DIR
