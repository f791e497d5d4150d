"""The project's own errors: every user mistake ends in one of these, never in a traceback
from deep inside polars.

An :class:`InputError` names where the problem is (file, row or event, field) and what was
expected, so the message alone tells the user what to fix.
"""

from __future__ import annotations


class MarketReactionError(Exception):
    """Base class: the CLI prints ``str(error)`` on one line and exits non-zero."""

    exit_code = 1


class InputError(MarketReactionError, ValueError):
    """Bad user input (catalog, price file, parameter).

    Parameters
    ----------
    message
        What is wrong and what was expected.
    file
        The file the input came from, as the user named it.
    row
        1-based data row (CSV: the header is row 0, so row 1 is the first record; the
        message also gives the line number, row + 1).
    event
        The event id the problem belongs to.
    field
        The field or column.
    """

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        event: str | None = None,
        field: str | None = None,
    ) -> None:
        self.file, self.row, self.event, self.field, self.reason = file, row, event, field, message
        where = []
        if file is not None:
            where.append(str(file))
        if row is not None:
            where.append(f"row {row} (line {row + 1})")
        if event is not None:
            where.append(f"event {event!r}")
        if field is not None:
            where.append(f"field {field!r}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class DataUnavailableError(MarketReactionError):
    """Prices (or shares) are neither in the store nor obtainable from the source."""

    exit_code = 3


class PriceSourceError(DataUnavailableError):
    """A price source (yfinance) answered with nothing usable for a ticker."""

    def __init__(self, ticker: str, reason: str) -> None:
        self.ticker, self.reason = ticker, reason
        super().__init__(f"{ticker}: {reason}")


SEPARATORS = {";": "';'", "\t": "tabs", "|": "'|'"}


def separator_hint(header: str) -> str:
    """``" (the file seems to be separated by ';'; ...)"`` when a header line that should be
    comma-separated uses another separator, else ``""``."""
    for sep, name in SEPARATORS.items():
        if sep in header and "," not in header:
            return f" (the file seems to be separated by {name}; save it comma-separated)"
    return ""
