"""Orchestration and I/O around the pure finance of :mod:`analysis`, one concern per folder:

- :mod:`flows.io` — the price and factor stores, importers, Yahoo (yfinance), the French
  library, catalog files, atomic writes, rows streamed to disk;
- :mod:`flows.reporting` — tables, plots, group briefs, the report folder, the reports index
  (no Prefect);
- :mod:`flows.orchestration` — the study's steps run locally or as Prefect flows, event
  batches on threads or Dask, ``serve``, artifacts;
- :mod:`flows.cli` — the command line ``market-reaction``;
- :mod:`flows.devtools` — ``bench``, ``simulate``, ``demo`` and their synthetic markets;

and, shared by them and light enough for the command line to import before anything heavy,
:mod:`flows.params` (a run's inputs and its spec), :mod:`flows.progress` (progress lines),
:mod:`flows.settings` (the home folder, the Prefect API) and :mod:`flows.lifetime` (helper
processes that die with the run).
"""
