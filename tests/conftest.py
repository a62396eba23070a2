"""Shared test fixtures: where the genuine weights and photos live, and skips with a reason when they do not."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
WEIGHTS = SHARED / "weights"
IMAGES = SHARED / "images"
SIGNATURES = WEIGHTS / "signatures"

pytest_plugins = ["tests.browser"]  # the headless Chromium fixture for the sandbox page tests

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# the bot process defers aiogram's validators (main.py imports this first); the tests run the bot the same way
import lazy_telegram_types  # noqa: E402, F401, I001


def need(path: Path) -> Path:
    """Skip the calling test when a file from ../shared is absent (a checkout without the shared test data)."""
    if not path.exists():
        pytest.skip(f"test data not found: {path} (the shared weights/images folder sits beside the repository)")
    return path


@pytest.fixture
def shared_weights() -> Path:
    return need(WEIGHTS)


@pytest.fixture
def shared_images() -> Path:
    return need(IMAGES)
