"""The report: tables, plots, briefs, the report folder and the reports index (no Prefect)."""
