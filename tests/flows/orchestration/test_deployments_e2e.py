"""End to end against a real Prefect server (a subprocess on a free loopback port), with the
deployments of ``deployments/prefect.yaml`` (``prefect deploy --all``, a process work pool and a
worker) and those of ``market-reaction serve`` registered on it one after the other:

* both sets are present under distinct names (``nightly``/``adhoc`` and
  ``nightly-served``/``adhoc-served``), each with its own settings, every parameter of the
  run form described; stopping ``serve`` pauses its own deployments only;
* ``prefect deployment run 'event-study/adhoc-served' --param ... --watch`` completes and leaves the
  report and its artifacts; the server's scheduler gives the cron deployment scheduled runs
  at 17:30 New York time; a second ``refresh-catalog`` run with no new prices recomputes
  nothing (its log says so) and leaves every file byte-identical; runs have readable names;
* the nightly refresh does not overlap (a second run while one runs is cancelled) and a crashed
  run is run again by the shipped automation, once;
* the yaml's ad hoc deployment runs a study on a worker (its pull steps keep
  ``{{ $MARKET_REACTION_CHECKOUT }}``, which the worker resolves at run time, and check the
  checkout's code against the deployed commit); the yaml's nightly runs on the worker too.

Prices come from the shared reference data imported into a temporary store
(``source=store``): no network. Every process started here is stopped by its PID. The checkout
must have no uncommitted edits in analysis/ or flows/: the worker refuses to run otherwise.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from flows.io.importers import import_price_files, read_shares_file
from flows.io.store import PriceStore
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
EVENT = "amzn-openai-aws-2025"
CATALOG = """
[[events]]
id = "amzn-june"
tickers = ["AMZN"]
announced = "2025-06-02"
description = "A quiet <i>control</i> event & nothing else"

[[events]]
id = "amzn-openai-aws-2025"
tickers = ["AMZN"]
announced = "2025-11-03"
related = ["MSFT"]
group = "deals"
description = "OpenAI-AWS $38bn compute deal <script>alert('x')</script>"
"""
STARTUP = 240  # seconds; generous for 2 loaded cores
REPORTS_URL = "https://reports.example.org/mr"  # where the artifacts link the reports folder
RUN_TIMEOUT = 600


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, timeout: float, what: str, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, repeat: bool = False, timeout: float = 60) -> None:
    """Stop a process started here: ``sig`` (twice, 5 s apart, with ``repeat``), then SIGKILL."""
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    if repeat:
        try:
            proc.wait(5)
            return
        except subprocess.TimeoutExpired:
            proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(30)


def tree_hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def world(tmp_path_factory, shared_data):
    """A Prefect server, a store with the reference prices, a small catalog, and the
    environment for the processes that talk to the server."""
    base = tmp_path_factory.mktemp("e2e")
    store = PriceStore(base / "home")
    p = shared_data / "prices"
    import_price_files(store, [p / "AMZN.csv", p / "MSFT.csv"], None)
    import_price_files(store, [p / "GSPC.csv"], "^GSPC")
    store.upsert_shares(read_shares_file(shared_data / "shares_outstanding.csv"), "test")
    catalog = base / "deals.toml"
    catalog.write_text(CATALOG)

    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update({
        "PREFECT_HOME": str(base / "prefect-server"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5",
        "PREFECT_LOGGING_LEVEL": "INFO",
    })
    log = (base / "server.log").open("wb")
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port), "--analytics-off"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=base,
    )

    def healthy() -> bool:
        assert server.poll() is None, f"prefect server exited: {(base / 'server.log').read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(f"{api}/health", timeout=5) as r:
                return r.status == 200
        except OSError:
            return False

    try:
        wait_for(healthy, STARTUP, "the Prefect server's /api/health")
        client_env = {
            **{k: v for k, v in env.items() if k != "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS"},
            "PREFECT_HOME": str(base / "prefect-client"),
            "PREFECT_API_URL": api,
            "MARKET_REACTION_HOME": str(store.root),
            "MARKET_REACTION_QUIET": "1",
            "MARKET_REACTION_REPORTS_URL": REPORTS_URL,
            "PREFECT_RUNNER_POLL_FREQUENCY": "1",
            "PREFECT_WORKER_QUERY_SECONDS": "1",
        }
        yield {"base": base, "api": api, "env": client_env, "catalog": catalog, "store": store}
    finally:
        stop(server)
        log.close()


def prefect_cli(world, *args: str, cwd: Path | None = None, timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "prefect"), *args], env=world["env"], cwd=cwd or world["base"],
                          capture_output=True, text=True, timeout=timeout)


def run_deployment_cli(world, name: str, *params: str, cwd: Path | None = None) -> str:
    """``prefect deployment run NAME --param ... --watch``; returns the flow run id."""
    args = ["deployment", "run", name, *[a for p in params for a in ("--param", p)],
            "--watch", "--watch-interval", "2", "--watch-timeout", str(RUN_TIMEOUT)]
    done = prefect_cli(world, *args, cwd=cwd, timeout=RUN_TIMEOUT + 60)
    out = done.stdout + done.stderr
    assert done.returncode == 0 and "Completed" in out, out[-4000:]
    found = re.search(r"UUID:\s*([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})", out)
    assert found, out[-4000:]
    return found.group(1)


@contextlib.contextmanager
def client(world):
    """A sync Prefect client of the test's server (settings are read once per process, so the
    URL is set through ``temporary_settings``, not the environment)."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: world["api"]}), get_client(sync_client=True) as c:
        yield c


def flow_run_logs(world, flow_run_id: str) -> str:
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    with client(world) as c:
        logs = c.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
    return "\n".join(log.message for log in logs)


@pytest.fixture(scope="module")
def deployed(world):
    """``prefect deploy --all`` of deployments/prefect.yaml to the process work pool ``market-reaction``."""
    assert prefect_cli(world, "work-pool", "create", "market-reaction", "--type", "process").returncode == 0
    assert "MARKET_REACTION_CHECKOUT" not in world["env"]
    done = prefect_cli(world, "--no-prompt", "deploy", "--all", "--prefect-file", "deployments/prefect.yaml", cwd=REPO_ROOT)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return world


@contextlib.contextmanager
def background(world, name: str, args: list[str], env: dict[str, str] | None = None, **stop_options):
    """A process started here (log in ``<base>/<name>.log``), stopped by its PID at the end."""
    log = (world["base"] / f"{name}.log").open("wb")
    proc = subprocess.Popen(args, env=env or world["env"], stdout=log, stderr=subprocess.STDOUT, cwd=world["base"])
    try:
        yield proc
    finally:
        stop(proc, **stop_options)
        log.close()


def flow_runs(world, deployment_id, *states):
    from prefect.client.schemas.filters import (
        DeploymentFilter, DeploymentFilterId, FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType,
    )

    state = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=list(states)))) if states else None
    with client(world) as c:
        return c.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
                                flow_run_filter=state)


def final_state(world, run_id, timeout: float = RUN_TIMEOUT):
    def done():
        with client(world) as c:
            state = c.read_flow_run(run_id).state
        return state if state is not None and state.is_final() else None

    return wait_for(done, timeout, f"flow run {run_id} to finish", interval=2)


def test_deploy_then_serve_on_one_server(deployed):
    """``prefect deploy --all`` then ``market-reaction serve``: both sets of deployments, distinct
    names; a run of each completes; no overlap; crash recovery; ``serve`` stopped pauses its own only."""
    world = deployed
    from prefect.client.schemas.objects import StateType
    from prefect.exceptions import ObjectNotFound
    from prefect.states import Crashed, Scheduled

    reports = world["base"] / "served-reports"
    serve_args = [str(BIN / "market-reaction"), "serve", "--catalog", str(world["catalog"]), "--reports", str(reports),
                  "--source", "store"]
    with background(world, "serve", serve_args) as served:
        def deployed_four():
            assert served.poll() is None, (world["base"] / "serve.log").read_text()[-3000:]
            with client(world) as c:
                try:
                    return {name: c.read_deployment_by_name(name) for name in (
                        "refresh-catalog/nightly", "event-study/adhoc", "refresh-catalog/nightly-served", "event-study/adhoc-served")}
                except ObjectNotFound:
                    return None

        d = wait_for(deployed_four, STARTUP, "the yaml's and the served deployments", interval=2)
        assert len({x.id for x in d.values()}) == 4
        yaml_nightly, served_nightly = d["refresh-catalog/nightly"], d["refresh-catalog/nightly-served"]
        # the yaml's stay work-pool deployments (pull steps, pool); the served ones are the runner's
        assert d["event-study/adhoc"].work_pool_name == "market-reaction" and d["event-study/adhoc"].pull_steps
        assert d["event-study/adhoc-served"].work_pool_name is None and not d["event-study/adhoc-served"].pull_steps
        for nightly in (yaml_nightly, served_nightly):
            assert nightly.global_concurrency_limit.limit == 1 and nightly.concurrency_options.collision_strategy == "CANCEL_NEW"
        for dep in d.values():  # every parameter of the run form has its description
            props = dep.parameter_openapi_schema["properties"]
            assert props and all(p.get("description") for p in props.values()), dep.name
        assert d["refresh-catalog/nightly"].parameter_openapi_schema["properties"]["force"]["description"] == "Recompute every event."
        with client(world) as c:  # the crash automations: one per nightly deployment, none for the ad hoc ones
            names = {a.name for a in c.read_automations()}
        assert {"nightly-rerun-after-crash", "nightly-served-rerun-after-crash"} <= names
        assert not any("adhoc" in n for n in names)

        # 1. the analyst's ad hoc run, through the CLI, served
        run_id = run_deployment_cli(world, "event-study/adhoc-served", f'event_ids=["{EVENT}"]')
        [report] = [p for p in reports.iterdir() if p.is_dir() and p.name.endswith(EVENT)]
        for name in ("report.html", "report.md", "car.parquet", "tests.parquet", "manifest.json",
                     f"plots/car-{EVENT}.png", f"plots/car-{EVENT}.svg", "tables/summary.html"):
            assert (report / name).is_file(), name
        index = (reports / "index.html").read_text()
        assert f'href="{report.name}/report.html"' in index and "&lt;script&gt;" in index and "<script>" not in index
        manifest = json.loads((report / "manifest.json").read_text())
        assert manifest["flow_run"]["id"] == run_id and manifest["flow_run"]["name"] == EVENT
        assert manifest["flow_run"]["deployment_id"] == str(d["event-study/adhoc-served"].id)
        assert manifest["code"]["git_commit"] and manifest["code"]["analysis_sha256"]

        from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, TaskRunFilter, TaskRunFilterFlowRunId

        with client(world) as c:
            arts = c.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id])))
            assert c.read_flow_run(run_id).name == EVENT
            task_names = {t.name for t in c.read_task_runs(task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=[run_id])))}
        assert "load-catalog deals.toml" in task_names and f"write-report {report.name}" in task_names, task_names
        by_key = {a.key: a for a in arts}
        assert {f"{EVENT}-summary", f"{EVENT}-tests", f"{EVENT}-headline", f"{EVENT}-report"} <= set(by_key)
        rows = json.loads(by_key[f"{EVENT}-summary"].data)  # formatted as the report's tables
        day0 = next(r for r in rows if r["ticker"] == "AMZN" and r["window"] == "[0,0]")
        assert (day0["CAR"], day0["t"], day0["$ abnormal"][-2:]) == ("+3.78%", "2.76", "bn")
        assert {"MSFT (related)"} == {r["ticker"] for r in rows} - {"AMZN"}
        assert {"window", "test", "statistic", "p", "N"} == set(json.loads(by_key[f"{EVENT}-tests"].data)[0])
        assert "AMZN rose 4.00% (+$104.6bn) on 2025-11-03; +3.78% (+$98.6bn) beyond what the market explains, significant at 1% (t = 2.76" in by_key[f"{EVENT}-headline"].data
        assert f"({REPORTS_URL}/{report.name}/report.html)" in by_key[f"{EVENT}-report"].data
        with client(world) as c:  # flagged: its confounders, MSFT's dollar value... (said in the log)
            assert c.read_flow_run(run_id).state.message == "1 event: 0 ok, 1 flagged, 0 skipped"
        wait_for(lambda: f"event {EVENT} flagged: AMZN: " in flow_run_logs(world, run_id), 120, "the flagged event's WARNING")

        # 2. the cron deployments get scheduled runs from the server's scheduler, 17:30 New York, weekdays
        for nightly in (served_nightly, yaml_nightly):
            runs = wait_for(lambda: flow_runs(world, nightly.id, StateType.SCHEDULED), STARTUP,
                            f"scheduled runs of {nightly.name}", interval=3)
            ny = [r.expected_start_time.astimezone(ZoneInfo("America/New_York")) for r in runs]
            assert all((t.hour, t.minute) == (17, 30) and t.weekday() < 5 and t > datetime.now(t.tzinfo) for t in ny), ny

        # 3. the nightly refresh twice: the second recomputes nothing and changes no byte
        first = run_deployment_cli(world, "refresh-catalog/nightly-served")
        assert (reports / "deals" / "events" / EVENT / "fingerprint.json").is_file()
        snapshot = tree_hashes(reports)
        second = run_deployment_cli(world, "refresh-catalog/nightly-served")
        assert tree_hashes(reports) == snapshot
        wait_for(lambda: "nothing to recompute: all 2 events unchanged" in flow_run_logs(world, second), 120,
                 "the second refresh's log line")
        assert "recomputing 2 of 2 events" in flow_run_logs(world, first)
        with client(world) as c:
            assert c.read_flow_run(second).name.startswith("deals-20")
            said = c.read_flow_run(first).state.message
            assert said.startswith("2 events: ") and said.endswith(" 0 skipped; recomputed 2 of 2 events"), said
            assert c.read_flow_run(second).state.message == "nothing to recompute: all 2 events unchanged"

        # 4. no overlap: two runs at once, the one that comes second is cancelled
        with client(world) as c:
            pair = [c.create_flow_run_from_deployment(served_nightly.id).id for _ in range(2)]
        states = [final_state(world, r) for r in pair]
        assert {s.type for s in states} == {StateType.COMPLETED, StateType.CANCELLED}, states
        assert "concurrency limit" in next(s for s in states if s.type == StateType.CANCELLED).message

        # 5. a crashed nightly run is run again by the automation, once per 12 hours
        def crash_one() -> set:
            before = {r.id for r in flow_runs(world, served_nightly.id)}
            with client(world) as c:  # a run that never starts (due in a day), then crashed as a killed worker leaves it
                run = c.create_flow_run_from_deployment(served_nightly.id, state=Scheduled(scheduled_time=datetime.now(timezone.utc) + timedelta(days=1)))
                c.set_flow_run_state(run.id, Crashed(message="worker killed (test)"), force=True)
            return before | {run.id}

        def reruns(known: set) -> list:  # new runs that the scheduler did not make
            return [r for r in flow_runs(world, served_nightly.id) if r.id not in known and not r.auto_scheduled]

        known = crash_one()
        rerun = wait_for(lambda: reruns(known), 120, "the automation's rerun of the crashed nightly run", interval=2)
        assert len(rerun) == 1 and final_state(world, rerun[0].id).type == StateType.COMPLETED
        known = crash_one()
        time.sleep(15)
        assert reruns(known) == []  # not again within 12 hours

    # 6. serve stopped: its deployments are paused, the yaml's are not
    with client(world) as c:
        assert c.read_deployment_by_name("refresh-catalog/nightly-served").paused
        assert not c.read_deployment_by_name("refresh-catalog/nightly").paused
        assert not c.read_deployment_by_name("event-study/adhoc").paused


def test_prefect_yaml_on_a_process_worker(deployed):
    """The yaml's deployments, a worker told where its checkout is, an ad hoc run with parameters
    and a nightly run."""
    world = deployed
    with client(world) as c:
        adhoc = c.read_deployment_by_name("event-study/adhoc")
        nightly = c.read_deployment_by_name("refresh-catalog/nightly")
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True).stdout.strip()
    checkout, check = adhoc.pull_steps
    assert checkout == {"prefect.deployments.steps.set_working_directory": {"directory": "{{ $MARKET_REACTION_CHECKOUT }}"}}
    script = check["prefect.deployments.steps.run_shell_script"]["script"]
    assert f"git diff --exit-code --stat {commit} -- analysis flows" in script  # the deployed commit, resolved
    assert [(s.schedule.cron, s.schedule.timezone) for s in nightly.schedules] == [("30 17 * * 1-5", "America/New_York")]

    # the worker resolves the checkout at run time; started elsewhere to show it does not use its cwd
    reports = world["base"] / "worker-reports"
    worker_args = [str(BIN / "prefect"), "worker", "start", "--pool", "market-reaction", "--type", "process"]
    with background(world, "worker", worker_args, env={**world["env"], "MARKET_REACTION_CHECKOUT": str(REPO_ROOT)},
                    sig=signal.SIGINT, repeat=True):
        run_deployment_cli(
            world, "event-study/adhoc", f'event_ids=["{EVENT}"]', f'catalog="{world["catalog"]}"',
            f'reports="{reports}"', 'source="store"', 'windows=["0:0", "0:1"]',
        )
        [report] = [p for p in reports.iterdir() if p.is_dir()]
        manifest = json.loads((report / "manifest.json").read_text())
        assert manifest["parameters"]["windows"] == ["0:0", "0:1"] and manifest["events"] == [EVENT]
        assert manifest["code"]["git_commit"] == commit and manifest["code"]["git_modified"] == []
        assert (report / "report.html").is_file() and (reports / "index.html").is_file()
        nightly_run = run_deployment_cli(world, "refresh-catalog/nightly", f'catalog="{world["catalog"]}"',
                                         f'reports="{reports}"', 'source="store"')
        assert (reports / "deals" / "catalog" / "manifest.json").is_file()
        with client(world) as c:
            assert c.read_flow_run(nightly_run).name.startswith("deals-20")
