"""Event-driven end to end against a real Prefect server (a subprocess on a free loopback
port): ``market-reaction serve --watchlist AMZN`` registers ``watch-events/watch-served`` and
``event-study/on-filing-served`` with its trigger; a run of the watch against the fake EDGAR
(``tests/flows/fake_edgar.py``, on 127.0.0.1) appends AMZN's new Q3 8-K to the catalog and emits
``market-reaction.event.discovered`` and, its first window long closed, ``market-reaction.event.ready``;
the server's automation then runs ``event-study`` on that event, whose report is written; the
next watch run announces nothing again and its page shows the day-0 reaction.

Prices come from the shared reference data imported into a temporary store (``source=store``):
no network. Every process started here is stopped by its PID.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import urllib.request
from pathlib import Path

import pytest

from flows.io.importers import import_price_files, read_shares_file
from flows.io.store import PriceStore
from tests.flows.orchestration.test_deployments_e2e import BIN, RUN_TIMEOUT, STARTUP, free_port, stop, wait_for

pytestmark = pytest.mark.slow

AMZN_Q3 = "amzn-8k-0001018724-25-000090"  # accepted 2025-10-30 16:01:52 New York; day 0 2025-10-31
NIGHTLY_CATALOG = """
[[events]]
id = "amzn-openai-aws-2025"
tickers = ["AMZN"]
announced = "2025-11-03"
"""


@contextlib.contextmanager
def started(args: list[str], env: dict[str, str], log: Path, cwd: Path):
    """A process started here, its output in ``log``, stopped by its PID at the end."""
    with log.open("wb") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=cwd)
        try:
            yield proc
        finally:
            stop(proc)


def api_post(api: str, path: str, body: dict) -> dict:
    request = urllib.request.Request(f"{api}{path}", data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as r:
        return json.loads(r.read() or b"{}")


def test_a_new_filing_emits_an_event_and_the_trigger_studies_it(fake_edgar, mr_home, tmp_path, shared_data):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.client.schemas.objects import StateType
    from prefect.exceptions import ObjectNotFound
    from prefect.settings import PREFECT_API_URL, temporary_settings

    store = PriceStore(mr_home)
    p = shared_data / "prices"
    import_price_files(store, [p / "AMZN.csv"], None)
    import_price_files(store, [p / "GSPC.csv"], "^GSPC")
    store.upsert_shares(read_shares_file(shared_data / "shares_outstanding.csv"), "test")
    (tmp_path / "deals.toml").write_text(NIGHTLY_CATALOG)
    reports = tmp_path / "reports"

    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}  # with the fake EDGAR's URLs
    server_env = {**base, "PREFECT_HOME": str(tmp_path / "prefect-server"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                  "PREFECT_LOGGING_LEVEL": "INFO"}
    client_env = {**server_env, "PREFECT_HOME": str(tmp_path / "prefect-client"), "PREFECT_API_URL": api,
                  "PREFECT_RUNNER_POLL_FREQUENCY": "1", "MARKET_REACTION_QUIET": "1"}

    @contextlib.contextmanager
    def client():
        with temporary_settings({PREFECT_API_URL: api}), get_client(sync_client=True) as c:
            yield c

    def healthy() -> bool:
        assert server.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
        try:
            with urllib.request.urlopen(f"{api}/health", timeout=5) as r:
                return r.status == 200
        except OSError:
            return False

    def final(run_id):
        def done():
            with client() as c:
                state = c.read_flow_run(run_id).state
            return state if state is not None and state.is_final() else None
        return wait_for(done, RUN_TIMEOUT, f"flow run {run_id} to finish", interval=2)

    def watch_once():
        with client() as c:
            run = c.create_flow_run_from_deployment(watch.id, parameters={"since": "2025-10-01"})
        state = final(run.id)
        assert state.type == StateType.COMPLETED, (state, (tmp_path / "serve.log").read_text()[-4000:])
        return state

    def studies():
        with client() as c:
            return c.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[on_filing.id])))

    serve_args = [str(BIN / "market-reaction"), "serve", "--catalog", str(tmp_path / "deals.toml"), "--reports",
                  str(reports), "--source", "store", "--watchlist", "AMZN", "--watch-cron", "0 0 1 1 *"]
    with started([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port), "--analytics-off"],
                 server_env, tmp_path / "server.log", tmp_path) as server:
        wait_for(healthy, STARTUP, "the Prefect server's /api/health")
        with started(serve_args, client_env, tmp_path / "serve.log", tmp_path) as served:
            def registered():
                assert served.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
                with client() as c:
                    try:
                        return c.read_deployment_by_name("watch-events/watch-served"), c.read_deployment_by_name(
                            "event-study/on-filing-served")
                    except ObjectNotFound:
                        return None

            watch, on_filing = wait_for(registered, STARTUP, "the watch's deployments", interval=2)
            with client() as c:
                assert "on-filing-served-study-when-ready" in {a.name for a in c.read_automations()}
            assert studies() == []

            # 1. the watch finds AMZN's Q3 8-K, new to the catalog: appended, announced, and (its
            #    window closed on 2025-11-03) announced ready
            said = watch_once().message
            assert said == f"AMZN: 1 new filing(s) of 1 since 2025-10-01; 1 ready for study ({AMZN_Q3})", said
            catalog = reports / "watch" / "filings.toml"
            assert AMZN_Q3 in catalog.read_text()
            found = wait_for(lambda: api_post(api, "/events/filter", {"filter": {"event": {"prefix": ["market-reaction."]}}})
                             .get("events"), 120, "the watch's Prefect events", interval=2)
            assert sorted((e["event"], e["resource"]["prefect.resource.id"], e["resource"]["market-reaction.watch"])
                          for e in found) == [("market-reaction.event.discovered", f"market-reaction.event.{AMZN_Q3}", "watch-served"),
                                              ("market-reaction.event.ready", f"market-reaction.event.{AMZN_Q3}", "watch-served")]
            ready = next(e for e in found if e["event"] == "market-reaction.event.ready")
            assert ready["payload"]["day0"] == "2025-10-31" and ready["payload"]["catalog"] == str(catalog.resolve())

            # 2. the trigger runs event-study on it: completed, its report written
            [study] = wait_for(studies, 180, "the triggered event-study run", interval=2)
            assert study.parameters["event_ids"] == [AMZN_Q3] and study.parameters["catalog"] == str(catalog.resolve())
            state = final(study.id)
            with client() as c:
                assert c.read_flow_run(study.id).name == AMZN_Q3  # named when it started
            assert state.type == StateType.COMPLETED, (state, (tmp_path / "serve.log").read_text()[-4000:])
            [report] = [f for f in reports.iterdir() if f.name.endswith(AMZN_Q3)]
            assert (report / "car.parquet").is_file() and (report / "report.html").is_file()
            manifest = json.loads((report / "manifest.json").read_text())
            assert manifest["events"] == [AMZN_Q3] and manifest["flow_run"]["id"] == str(study.id)

            # 3. the next watch run: nothing new, nothing announced again; the page shows the day-0 reaction
            assert watch_once().message == "AMZN: 0 new filing(s) of 1 since 2025-10-01; 0 ready for study"
            page = (reports / "watch" / "index.html").read_text()
            assert f'href="../{report.name}/report.html"' in page and "2025-10-30 16:01:52" in page
            assert '<td class="n car">' in page and "not yet studied" not in page and "study requested" not in page
            assert len(studies()) == 1
