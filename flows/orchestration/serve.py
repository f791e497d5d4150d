"""``market-reaction serve``: both deployments from one long-running process on one machine.

* ``refresh-catalog/nightly`` — on a cron schedule (default ``30 17 * * 1-5`` in
  ``America/New_York``: weekdays at 17:30 New York time, after the US close and the
  vendors' end-of-day bars);
* ``event-study/adhoc`` — no schedule; triggered with
  ``prefect deployment run 'event-study/adhoc' --param event_ids='["amzn-openai-aws-2025"]'``.

The process polls the Prefect server (``PREFECT_API_URL``) every
``PREFECT_RUNNER_POLL_FREQUENCY`` seconds (default 10) and runs each flow run in a
subprocess. Stopping it (SIGTERM / Ctrl-C) pauses the schedules. For several machines use
``deployments/prefect.yaml`` with a process work pool and workers instead (README).
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_CRON = "30 17 * * 1-5"
DEFAULT_TIMEZONE = "America/New_York"
NIGHTLY = "nightly"
ADHOC = "adhoc"


def build_deployments(
    catalog: Path, reports: Path, source: str = "auto", cron: str = DEFAULT_CRON, timezone: str = DEFAULT_TIMEZONE,
) -> list:
    """The two runner deployments (paths made absolute: runs start in subprocesses)."""
    from prefect.schedules import Cron

    from flows.orchestration.tracked import event_study, refresh_catalog

    common = {"catalog": str(Path(catalog).resolve()), "reports": str(Path(reports).resolve()), "source": source}
    nightly = refresh_catalog.to_deployment(
        name=NIGHTLY, schedule=Cron(cron, timezone=timezone), parameters=common, tags=["market-reaction", "scheduled"],
        description=f"Refresh every event of {Path(catalog).name}: fetch new prices, recompute what changed, republish.",
    )
    adhoc = event_study.to_deployment(
        name=ADHOC, parameters=common, tags=["market-reaction", "ad-hoc"],
        description="Study the given event ids of the catalog now (--param event_ids='[\"...\"]').",
    )
    return [nightly, adhoc]


def serve(catalog: Path, reports: Path, source: str, cron: str, timezone: str, limit: int) -> None:
    """Serve both deployments until interrupted."""
    from prefect import serve as prefect_serve

    prefect_serve(*build_deployments(catalog, reports, source, cron, timezone), limit=limit)
