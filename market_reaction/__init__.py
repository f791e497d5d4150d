"""market-reaction as a library: the market's reaction to announcements, in a notebook.

One import gives the whole surface::

    import market_reaction as mr

    prices = mr.read_prices("AMZN.csv", "GSPC.csv")      # or mr.prices(frame), or the store
    event = mr.Event("amzn-openai-aws-2025", ("AMZN",), date(2025, 11, 3), timing="pre-open")
    result = mr.study([event], prices)                    # or mr.study("events.toml", ...)
    result.car                                            # tidy polars frames
    result.summary()                                      # a great_tables table
    result.plot("amzn-openai-aws-2025")                   # a matplotlib figure
    result.to_report("reports/amzn")                      # the command line's report folder

Events come from a catalog file, a frame with the CSV catalog's columns, or :class:`Event`
values; prices from a polars or pandas frame (checked and normalised exactly as
``market-reaction prices import`` does), from price files, or from the price store (topped up
from Yahoo Finance with ``source="auto"``). The study runs the same steps as
``market-reaction run``: the same engine in event batches, confounders among the catalog's
events, data checks and the catalog's claims, so both give identical frames.

Errors in the user's input raise :class:`InputError` naming the file or frame, row and field;
missing data raise :class:`DataUnavailableError`. Warnings about the data (a ticker without
``adj_close``, gaps, jumps) are :class:`DataWarning` warnings.
"""

from analysis.errors import DataUnavailableError, InputError
from analysis.specs import EventSpec as Event
from analysis.specs import StudySpec, Window
from market_reaction.api import DataWarning, Study, events, prices, read_prices, study

__all__ = [
    "DataUnavailableError",
    "DataWarning",
    "Event",
    "InputError",
    "Study",
    "StudySpec",
    "Window",
    "events",
    "prices",
    "read_prices",
    "study",
]
