"""``market-reaction serve``: both deployments from one long-running process on one machine.

* ``refresh-catalog/nightly-served`` — on a cron schedule (default ``30 17 * * 1-5`` in
  ``America/New_York``: weekdays at 17:30 New York time, after the US close and the
  vendors' end-of-day bars); one run at a time (a run due while one runs is cancelled), and a
  crashed run is run again once (:func:`rerun_after_crash`);
* ``event-study/adhoc-served`` — no schedule; triggered with
  ``prefect deployment run 'event-study/adhoc-served' --param event_ids='["amzn-openai-aws-2025"]'``.

The names differ from those of ``deployments/prefect.yaml`` (``nightly``, ``adhoc``): a
deployment is keyed on its flow and name, so serving under the same names after ``prefect
deploy`` would turn the work-pool deployments into hybrids (served, with the yaml's pull
steps: their runs crashed) and stopping ``serve`` would pause them.

The process polls the Prefect server (``PREFECT_API_URL``) every
``PREFECT_RUNNER_POLL_FREQUENCY`` seconds (default 10) and runs each flow run in a
subprocess, with the code of this checkout as it is when the run starts. Stopping it
(SIGTERM / Ctrl-C) pauses its schedules. For several machines use ``deployments/prefect.yaml``
with a process work pool and workers instead (README).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

DEFAULT_CRON = "30 17 * * 1-5"
DEFAULT_TIMEZONE = "America/New_York"
NIGHTLY = "nightly-served"
ADHOC = "adhoc-served"
RERUN_WINDOW = timedelta(hours=12)  # a crashed nightly run is run again at most once in this time


def rerun_after_crash(flow: str, deployment: str):
    """The trigger that runs ``flow/deployment`` again when one of its runs crashed (its worker
    or serve process was killed, its process died): at most once per :data:`RERUN_WINDOW`, so a
    run that crashes every time is not rerun without end. ``deployments/prefect.yaml`` has the
    same trigger for its ``nightly``."""
    from prefect.events import DeploymentEventTrigger

    return DeploymentEventTrigger(
        name=f"{deployment}-rerun-after-crash",
        description=f"Run {flow}/{deployment} again when one of its runs crashed (at most once per 12 hours).",
        match={"prefect.resource.id": "prefect.flow-run.*"},
        match_related=[{"prefect.resource.role": "flow", "prefect.resource.name": flow},
                       {"prefect.resource.role": "deployment", "prefect.resource.name": deployment}],
        expect={"prefect.flow-run.Crashed"}, posture="Reactive", threshold=1, within=RERUN_WINDOW,
    )


def build_deployments(
    catalog: Path, reports: Path, source: str = "auto", cron: str = DEFAULT_CRON, timezone: str = DEFAULT_TIMEZONE,
) -> list:
    """The two runner deployments (paths made absolute: runs start in subprocesses)."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.schedules import Cron

    from flows.orchestration.tracked import event_study, refresh_catalog

    common = {"catalog": str(Path(catalog).resolve()), "reports": str(Path(reports).resolve()), "source": source}
    nightly = refresh_catalog.to_deployment(
        name=NIGHTLY, schedule=Cron(cron, timezone=timezone), parameters=common, tags=["market-reaction", "scheduled"],
        description=f"Refresh every event of {Path(catalog).name}: fetch new prices, recompute what changed, republish. "
                    "One run at a time (a run due while one runs is cancelled); a crashed run is rerun once.",
        concurrency_limit=ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW),
        triggers=[rerun_after_crash(refresh_catalog.name, NIGHTLY)],
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
