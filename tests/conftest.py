"""Shared fixtures: the reference data beside the checkout, and an isolated store home."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` relative to the repository root; skip when it is absent."""
    if not (SHARED_DATA / "prices").is_dir():
        pytest.skip(f"reference data not found at <repo>/../shared/data (looked in {SHARED_DATA.name!r} beside the checkout)")
    return SHARED_DATA


@pytest.fixture
def mr_home(tmp_path, monkeypatch) -> Path:
    """An empty ``MARKET_REACTION_HOME`` for one test."""
    home = tmp_path / "home"
    monkeypatch.setenv("MARKET_REACTION_HOME", str(home))
    return home
