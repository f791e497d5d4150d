"""Progress lines on stderr for long steps (``market-reaction: ...``); silenced by
``MARKET_REACTION_QUIET=1`` (the CLI's ``--quiet``)."""

from __future__ import annotations

import os
import sys
import time

_T0 = time.monotonic()


def say(message: str) -> None:
    if os.environ.get("MARKET_REACTION_QUIET") != "1":
        print(f"market-reaction [{time.monotonic() - _T0:5.1f}s] {message}", file=sys.stderr, flush=True)
