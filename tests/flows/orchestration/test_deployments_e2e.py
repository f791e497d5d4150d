"""End to end against a real Prefect server (a subprocess on a free loopback port):

* ``market-reaction serve`` serves ``event-study/adhoc`` and ``refresh-catalog/nightly``;
  ``prefect deployment run 'event-study/adhoc' --param ... --watch`` completes and leaves the
  report and its artifacts; the server's scheduler gives the cron deployment scheduled runs
  at 17:30 New York time; a second ``refresh-catalog`` run with no new prices recomputes
  nothing (its log says so) and leaves every file byte-identical;
* ``deployments/prefect.yaml`` deployed to a process work pool runs an ad hoc study on a worker
  (its pull step keeps ``{{ $MARKET_REACTION_CHECKOUT }}``, which the worker resolves at run time).

Prices come from the shared reference data imported into a temporary store
(``source=store``): no network. Every process started here is stopped by its PID.
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
from datetime import datetime
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


def test_serve_adhoc_run_schedule_and_idempotent_refresh(world):
    reports = world["base"] / "served-reports"
    log = (world["base"] / "serve.log").open("wb")
    served = subprocess.Popen(
        [str(BIN / "market-reaction"), "serve", "--catalog", str(world["catalog"]), "--reports", str(reports),
         "--source", "store"],
        env=world["env"], stdout=log, stderr=subprocess.STDOUT, cwd=world["base"],
    )
    try:
        from prefect.client.schemas.filters import (
            DeploymentFilter, DeploymentFilterId, FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType,
        )
        from prefect.client.schemas.objects import StateType
        from prefect.exceptions import ObjectNotFound

        def deployed():
            assert served.poll() is None, (world["base"] / "serve.log").read_text()[-3000:]
            with client(world) as c:
                try:
                    return c.read_deployment_by_name("refresh-catalog/nightly"), c.read_deployment_by_name("event-study/adhoc")
                except ObjectNotFound:
                    return None

        nightly, _ = wait_for(deployed, STARTUP, "the served deployments", interval=2)

        # 1. the analyst's ad hoc run, through the CLI, against the real server
        run_id = run_deployment_cli(world, "event-study/adhoc", f'event_ids=["{EVENT}"]')
        [report] = [p for p in reports.iterdir() if p.is_dir() and p.name.endswith(EVENT)]
        for name in ("report.html", "report.md", "car.parquet", "tests.parquet", "manifest.json",
                     f"plots/car-{EVENT}.png", f"plots/car-{EVENT}.svg", "tables/summary.html"):
            assert (report / name).is_file(), name
        index = (reports / "index.html").read_text()
        assert f'href="{report.name}/report.html"' in index and "&lt;script&gt;" in index and "<script>" not in index

        from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

        with client(world) as c:
            arts = c.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id])))
        by_key = {a.key: a for a in arts}
        assert {f"{EVENT}-summary", f"{EVENT}-tests", f"{EVENT}-headline", f"{EVENT}-report"} <= set(by_key)
        rows = json.loads(by_key[f"{EVENT}-summary"].data)
        day0 = next(r for r in rows if r["ticker"] == "AMZN" and r["window_start"] == 0 and r["window_end"] == 0)
        assert day0["car"] == pytest.approx(0.0378, abs=5e-4) and day0["dollar_abnormal"] > 9e10
        assert json.loads(by_key[f"{EVENT}-tests"].data)[0]["group"] == "deals"
        assert "AMZN rose 4.00% (+$104.6bn) on 2025-11-03; +3.78% (+$98.6bn) beyond what the market explains, significant at 1% (t = 2.76" in by_key[f"{EVENT}-headline"].data
        assert (report.resolve() / "report.html").as_uri() in by_key[f"{EVENT}-report"].data

        # 2. the cron deployment gets scheduled runs from the server's scheduler, 17:30 New York, weekdays
        scheduled = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])))

        def scheduled_runs():
            with client(world) as c:
                return c.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[nightly.id])),
                                        flow_run_filter=scheduled)

        runs = wait_for(scheduled_runs, STARTUP, "scheduled runs of refresh-catalog/nightly", interval=3)
        ny = [r.expected_start_time.astimezone(ZoneInfo("America/New_York")) for r in runs]
        assert all((t.hour, t.minute) == (17, 30) and t.weekday() < 5 and t > datetime.now(t.tzinfo) for t in ny), ny

        # 3. the nightly refresh twice: the second recomputes nothing and changes no byte
        first = run_deployment_cli(world, "refresh-catalog/nightly")
        assert (reports / "deals" / "events" / EVENT / "fingerprint.json").is_file()
        snapshot = tree_hashes(reports)
        second = run_deployment_cli(world, "refresh-catalog/nightly")
        assert tree_hashes(reports) == snapshot
        wait_for(lambda: "nothing to recompute: all 2 events unchanged" in flow_run_logs(world, second), 120,
                 "the second refresh's log line")
        assert "recomputing 2 of 2 events" in flow_run_logs(world, first)
    finally:
        stop(served)
        log.close()


def test_prefect_yaml_on_a_process_worker(world):
    """``prefect deploy`` of deployments/prefect.yaml, a worker told where its checkout is, and an
    ad hoc run with parameters."""
    assert prefect_cli(world, "work-pool", "create", "market-reaction", "--type", "process").returncode == 0
    assert "MARKET_REACTION_CHECKOUT" not in world["env"]
    done = prefect_cli(world, "--no-prompt", "deploy", "--all", "--prefect-file", "deployments/prefect.yaml", cwd=REPO_ROOT)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    with client(world) as c:
        adhoc = c.read_deployment_by_name("event-study/adhoc")
        nightly = c.read_deployment_by_name("refresh-catalog/nightly")
    assert adhoc.work_pool_name == "market-reaction" and adhoc.pull_steps == [
        {"prefect.deployments.steps.set_working_directory": {"directory": "{{ $MARKET_REACTION_CHECKOUT }}"}}
    ]
    assert [(s.schedule.cron, s.schedule.timezone) for s in nightly.schedules] == [("30 17 * * 1-5", "America/New_York")]

    # the worker resolves the checkout at run time; started elsewhere to show it does not use its cwd
    reports = world["base"] / "worker-reports"
    log = (world["base"] / "worker.log").open("wb")
    worker = subprocess.Popen(
        [str(BIN / "prefect"), "worker", "start", "--pool", "market-reaction", "--type", "process"],
        env={**world["env"], "MARKET_REACTION_CHECKOUT": str(REPO_ROOT)}, stdout=log, stderr=subprocess.STDOUT,
        cwd=world["base"],
    )
    try:
        run_deployment_cli(
            world, "event-study/adhoc", f'event_ids=["{EVENT}"]', f'catalog="{world["catalog"]}"',
            f'reports="{reports}"', 'source="store"', 'windows=["0:0", "0:1"]',
        )
        [report] = [p for p in reports.iterdir() if p.is_dir()]
        manifest = json.loads((report / "manifest.json").read_text())
        assert manifest["parameters"]["windows"] == ["0:0", "0:1"] and manifest["events"] == [EVENT]
        assert (report / "report.html").is_file() and (reports / "index.html").is_file()
    finally:
        stop(worker, signal.SIGINT, repeat=True)
        log.close()
