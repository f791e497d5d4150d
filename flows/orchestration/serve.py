"""``market-reaction serve``: both deployments from one long-running process on one machine.

* ``refresh-catalog/nightly-served`` — on a cron schedule (default ``30 17 * * 1-5`` in
  ``America/New_York``: weekdays at 17:30 New York time, after the US close and the
  vendors' end-of-day bars); one run at a time (a run due while one runs is cancelled), and a
  crashed run is run again once (:func:`rerun_after_crash`);
* ``event-study/adhoc-served`` — no schedule; triggered with
  ``prefect deployment run 'event-study/adhoc-served' --param event_ids='["amzn-openai-aws-2025"]'``.

With ``--watchlist``, two more (:mod:`flows.orchestration.watch`):

* ``watch-events/watch-served`` — every 30 minutes on weekdays, 06:00 to 21:30 New York
  (:data:`WATCH_CRON`; market holidays are skipped by the flow); one run at a time;
* ``event-study/on-filing-served`` — no schedule: its trigger (:func:`study_when_ready`) runs
  it on each event the watch announces ready.

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
WATCH_CRON = "*/30 6-21 * * 1-5"
"""Every 30 minutes from 06:00 to 21:30 on weekdays (New York): EDGAR accepts filings from 06:00
to 22:00; the flow itself skips the market holidays (no session: EDGAR not asked)."""
NIGHTLY = "nightly-served"
ADHOC = "adhoc-served"
WATCH = "watch-served"
ON_FILING = "on-filing-served"
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


def study_when_ready(deployment: str, watch: str):
    """The trigger that runs ``event-study/<deployment>`` on each event the watch deployment
    ``watch-events/<watch>`` announces ready (:data:`flows.orchestration.watch.READY`, once
    its first event window has closed), with that event's id, catalog and reports folder from
    the event's payload (the deployment's other parameters as they are). ``deployments/prefect.yaml``
    has the same trigger for its ``on-filing``."""
    from prefect.events import DeploymentEventTrigger

    from flows.orchestration.watch import READY, RESOURCE, WATCH_LABEL

    return DeploymentEventTrigger(
        name=f"{deployment}-study-when-ready",
        description=f"Run event-study/{deployment} on each event watch-events/{watch} announces ready "
                    "(its first event window has closed).",
        match={"prefect.resource.id": f"{RESOURCE}*", WATCH_LABEL: watch},
        expect={READY}, posture="Reactive", threshold=1, within=timedelta(0),
        parameters={"event_ids": ["{{ event.payload.event_id }}"], "catalog": "{{ event.payload.catalog }}",
                    "reports": "{{ event.payload.reports }}"},
    )


def build_deployments(
    catalog: Path, reports: Path, source: str = "auto", cron: str = DEFAULT_CRON, timezone: str = DEFAULT_TIMEZONE,
    watchlist: list[str] | None = None, watch_cron: str = WATCH_CRON,
) -> list:
    """The runner deployments (paths made absolute: runs start in subprocesses): the nightly
    refresh and the ad hoc study, and with a ``watchlist`` the watch (``watch_cron``) and the
    study its events trigger."""
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
    if not watchlist:
        return [nightly, adhoc]
    from flows.orchestration.tracked import watch_events

    where = str(Path(reports).resolve())
    watch = watch_events.to_deployment(
        name=WATCH, schedule=Cron(watch_cron, timezone=timezone), parameters={"watchlist": list(watchlist), "reports": where},
        tags=["market-reaction", "scheduled", "watch"],
        description=f"Append the new SEC filings of {', '.join(watchlist)} to {where}/watch/filings.toml, announce each "
                    "as a Prefect event, and announce those whose first event window has closed (event-study/"
                    f"{ON_FILING} studies them); rewrite {where}/watch/index.html. One run at a time.",
        concurrency_limit=ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW),
    )
    on_filing = event_study.to_deployment(
        name=ON_FILING, parameters={"source": source, "reports": where}, tags=["market-reaction", "event-driven"],
        description=f"Study each event watch-events/{WATCH} announces ready (triggered; its id, catalog and reports "
                    "folder come from the event).",
        triggers=[study_when_ready(ON_FILING, WATCH)],
    )
    return [nightly, adhoc, watch, on_filing]


def serve(catalog: Path, reports: Path, source: str, cron: str, timezone: str, limit: int,
          watchlist: list[str] | None = None, watch_cron: str = WATCH_CRON) -> None:
    """Serve the deployments until interrupted."""
    from prefect import serve as prefect_serve

    prefect_serve(*build_deployments(catalog, reports, source, cron, timezone, watchlist, watch_cron), limit=limit)
