"""Progress lines on stderr (``market-reaction [  1.2s] ...``); silenced by
``MARKET_REACTION_QUIET=1`` (the CLI's ``--quiet``) and inside :func:`silenced` (the Python API).

Inside :func:`logging_to` every line also goes to a logger (a tracked run's flow-run logger:
progress at INFO, :func:`warn` at WARNING), whatever ``--quiet`` says: the run's logs on the
Prefect server say what the terminal would.

Long steps are timed as named stages: ``with stage("prices"): ...`` prints
``prices: 1.23 s`` when the block ends, and :func:`stages` prints the times of stages measured
elsewhere (e.g. inside the engine) from ``(name, seconds)`` pairs, so a slow stage is visible.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

_T0 = time.monotonic()
_SILENCED = [0]  # open silenced() blocks (a count, not a context variable: the batches say things on threads)
_LOGGERS: list[logging.Logger | logging.LoggerAdapter] = []  # open logging_to() blocks, innermost last


def say(message: str) -> None:
    if _LOGGERS:
        _LOGGERS[-1].info("%s", message)
    if not _SILENCED[0] and os.environ.get("MARKET_REACTION_QUIET") != "1":
        print(f"market-reaction [{time.monotonic() - _T0:5.1f}s] {message}", file=sys.stderr, flush=True)


def warn(message: str) -> None:
    """``market-reaction: warning: <message>`` on stderr, whatever ``--quiet`` says (something
    the user must know: a file kept, a folder left alone)."""
    if _LOGGERS:
        _LOGGERS[-1].warning("%s", message)
    print(f"market-reaction: warning: {message}", file=sys.stderr, flush=True)


def stages(times: Iterable[tuple[str, float]]) -> None:
    """One progress line per stage: ``name: 1.23 s``."""
    for name, seconds in times:
        say(f"{name}: {seconds:.2f} s")


@contextmanager
def silenced(quiet: bool = True) -> Iterator[None]:
    """No progress lines inside the block (when ``quiet``)."""
    _SILENCED[0] += quiet
    try:
        yield
    finally:
        _SILENCED[0] -= quiet


@contextmanager
def logging_to(logger: logging.Logger | logging.LoggerAdapter) -> Iterator[None]:
    """Inside the block, every progress line and warning also goes to ``logger`` (a list, not a
    context variable: the batches say things on threads)."""
    _LOGGERS.append(logger)
    try:
        yield
    finally:
        _LOGGERS.remove(logger)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Time the block and say how long stage ``name`` took."""
    start = time.monotonic()
    yield
    stages([(name, time.monotonic() - start)])


def grouped_notes(notes: list[str]) -> list[str]:
    """Notes ``TICKER: reason`` whose reasons are the same up to the ticker they name, as one
    note ``T1, T2: reason`` (the import hint then says ``--ticker SYMBOL``)."""
    tickers: dict[str, list[str]] = {}
    for note in notes:
        ticker, _, reason = note.partition(": ")
        tickers.setdefault(reason.replace(f"--ticker {ticker}`", "--ticker SYMBOL`"), []).append(ticker)
    return [f"{', '.join(names)}: {reason}" for reason, names in tickers.items()]
