"""Where market-reaction keeps its data.

Everything lives under one home directory: ``$MARKET_REACTION_HOME`` when set, otherwise the
per-user data directory of the platform (``platformdirs.user_data_dir("market-reaction")``).
Nothing is created on import; the writers create what they need.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "market-reaction"
HOME_ENV = "MARKET_REACTION_HOME"


def home() -> Path:
    """The home directory of the price store and caches.

    Returns
    -------
    Path
        ``$MARKET_REACTION_HOME`` (with ``~`` expanded) if set and non-empty, else the
        per-user data directory.
    """
    value = os.environ.get(HOME_ENV, "").strip()
    return Path(value).expanduser() if value else Path(platformdirs.user_data_dir(APP_NAME))


def cache_dir() -> Path:
    """Directory for download caches (yfinance's sqlite caches): ``home()/cache``."""
    return home() / "cache"
