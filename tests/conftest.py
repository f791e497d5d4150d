"""Shared fixtures: the reference data beside the checkout, and an isolated store home."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings

# Property tests draw the same examples on every run, so a red CI is a reproducible one; set
# HYPOTHESIS_PROFILE=explore to search fresh examples (a failure there becomes a fixed test).
settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Prefect settings must be in the environment before prefect is imported (STACK.md).
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="mr-prefect-home-"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
os.environ["MARKET_REACTION_QUIET"] = "1"
os.environ.setdefault("MARKET_REACTION_RETRY_BACKOFF", "0.1")  # Yahoo-unreachable retries wait 0.1 s, 0.2 s

LONG_RUNNING = ("slow", "prefect", "dask", "bench", "simulation")
"""Markers of the tests a plain ``pytest`` leaves out (``pytest --all`` runs them: CI does;
``pytest -m MARKER`` runs those of one marker). Tests using the ``prefect_server`` fixture are
marked ``prefect`` here."""


def pytest_addoption(parser):
    parser.addoption("--all", action="store_true", help=f"also run the long-running tests ({', '.join(LONG_RUNNING)}); CI does")


@pytest.hookimpl(tryfirst=True)  # before -m selects: the prefect marker is added here
def pytest_collection_modifyitems(config, items):
    for item in items:
        if "prefect_server" in getattr(item, "fixturenames", ()):
            item.add_marker("prefect")
    if config.getoption("--all") or config.getoption("markexpr"):
        return
    long = {i for i in items if any(i.get_closest_marker(m) for m in LONG_RUNNING)}
    if long:
        config.hook.pytest_deselected(items=[i for i in items if i in long])
        items[:] = [i for i in items if i not in long]


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


@pytest.fixture
def amzn_store(mr_home, shared_data, capsys) -> Path:
    """A store (``MARKET_REACTION_HOME``) with the reference AMZN, ^GSPC, MSFT, NVDA and GOOGL
    prices and AMZN's shares outstanding: what the AWS deal of the shipped catalog needs."""
    from flows.cli.main import main

    p = shared_data / "prices"
    assert main(["prices", "import", *(str(p / f"{t}.csv") for t in ("AMZN", "MSFT", "NVDA", "GOOGL"))]) == 0
    assert main(["prices", "import", str(p / "GSPC.csv"), "--ticker", "^GSPC"]) == 0
    assert main(["shares", "import", str(shared_data / "shares_outstanding.csv")]) == 0
    capsys.readouterr()
    return mr_home


@pytest.fixture(scope="session")
def prefect_server() -> str:
    """A throw-away Prefect API (temporary SQLite DB) for the session; its URL."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield PREFECT_API_URL.value()


@pytest.fixture
def prefect_api(prefect_server, monkeypatch):
    """The session's Prefect API for one test, its URL in ``PREFECT_API_URL`` so that
    ``market-reaction run`` makes tracked flow runs on it (and the tests after it, local runs)."""
    monkeypatch.setenv("PREFECT_API_URL", prefect_server)
