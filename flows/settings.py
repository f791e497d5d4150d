"""Where market-reaction keeps its data.

Everything lives under one home directory: ``$MARKET_REACTION_HOME`` when set, otherwise the
per-user data directory of the platform (``platformdirs.user_data_dir("market-reaction")``).
Nothing is created on import; the writers create what they need.

It also says where Prefect keeps its files (:func:`prefect_home`) and whether a Prefect API is
configured (:func:`prefect_api_url`), without importing Prefect: the command line runs a study
as a tracked Prefect flow run only then; and where the reports folder is served
(:func:`reports_url`), for the links of the Prefect artifacts.
"""

from __future__ import annotations

import os
import tomllib
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


def prefect_home() -> Path:
    """Prefect's home folder (its database, cached task results, profiles): ``$PREFECT_HOME``
    (with ``~`` expanded) if set and non-empty, else ``~/.prefect``, as Prefect finds it."""
    return Path(os.environ.get("PREFECT_HOME", "").strip() or "~/.prefect").expanduser()


def prefect_api_url() -> str | None:
    """The Prefect API this process would talk to, found as Prefect finds it but without
    importing Prefect (which takes seconds).

    Returns
    -------
    str or None
        ``$PREFECT_API_URL`` if set and non-empty; else ``PREFECT_API_URL`` of the active
        profile in ``$PREFECT_PROFILES_PATH`` (default ``$PREFECT_HOME/profiles.toml``,
        ``$PREFECT_HOME`` defaulting to ``~/.prefect``), the profile being ``$PREFECT_PROFILE``,
        else the file's ``active`` entry; else None (no API: Prefect would start a temporary
        server of its own). An unreadable profiles file counts as none.
    """
    url = os.environ.get("PREFECT_API_URL", "").strip()
    if url:
        return url
    path = Path(os.environ.get("PREFECT_PROFILES_PATH", "").strip() or prefect_home() / "profiles.toml").expanduser()
    try:
        profiles = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    name = os.environ.get("PREFECT_PROFILE", "").strip() or profiles.get("active")
    table = profiles.get("profiles")
    profile = table.get(name) if isinstance(table, dict) else None
    url = profile.get("PREFECT_API_URL") if isinstance(profile, dict) else None
    return url.strip() if isinstance(url, str) and url.strip() else None


REPORTS_URL_ENV = "MARKET_REACTION_REPORTS_URL"


def reports_url() -> str | None:
    """Where the reports folder is served, for the links of the Prefect artifacts.

    Returns
    -------
    str or None
        ``$MARKET_REACTION_REPORTS_URL`` (e.g. ``https://reports.example.org/market-reaction``;
        a page's path inside the reports folder is appended) if set and non-empty, else None:
        the artifacts then name the path as text.
    """
    return os.environ.get(REPORTS_URL_ENV, "").strip() or None


RETRY_BACKOFF_ENV = "MARKET_REACTION_RETRY_BACKOFF"
YAHOO_BACKOFF = 5.0
EDGAR_BACKOFF = 1.0


def retry_backoff(default: float) -> float:
    """Seconds before the first retry of a request that may pass (doubled per retry):
    ``$MARKET_REACTION_RETRY_BACKOFF`` if set, else the service's ``default``
    (:data:`YAHOO_BACKOFF`; :data:`EDGAR_BACKOFF`, when its answer carries no ``Retry-After``)."""
    return float(os.environ.get(RETRY_BACKOFF_ENV, "").strip() or default)
