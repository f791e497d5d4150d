"""``deployments/prefect.yaml`` and ``market-reaction serve`` agree where they must and differ
where they must: distinct deployment names, the same no-overlap limit and crash automation on
the nightly refresh, and a pull step that checks the worker's code against the deployed commit.
(Read with Prefect's own YAML loader dependency; the product never loads YAML.)"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
import yaml
from prefect.deployments.steps.utility import run_shell_script
from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger

from flows.orchestration import serve
from tests.conftest import REPO_ROOT

SPEC = yaml.safe_load((REPO_ROOT / "deployments" / "prefect.yaml").read_text())
BY_NAME = {d["name"]: d for d in SPEC["deployments"]}


def test_served_and_yaml_deployments_have_distinct_names():
    assert set(BY_NAME) == {"nightly", "adhoc", "watch", "on-filing"}
    served = {d.name for d in serve.build_deployments(Path("deployments/events.toml"), Path("reports"))}
    assert served == {serve.NIGHTLY, serve.ADHOC} == {"nightly-served", "adhoc-served"}
    watching = {d.name for d in serve.build_deployments(Path("deployments/events.toml"), Path("reports"), watchlist=["AMZN"])}
    assert watching == served | {"watch-served", "on-filing-served"}
    assert not watching & set(BY_NAME)


def test_the_watch_runs_every_30_minutes_on_weekdays_and_its_ready_events_trigger_a_study_in_both():
    watch, on_filing = BY_NAME["watch"], BY_NAME["on-filing"]
    assert watch["entrypoint"] == "flows/orchestration/tracked.py:watch_events"
    assert on_filing["entrypoint"] == "flows/orchestration/tracked.py:event_study"
    assert watch["schedules"] == [{"cron": serve.WATCH_CRON, "timezone": "America/New_York", "active": True}]
    assert watch["concurrency_limit"] == {"limit": 1, "collision_strategy": "CANCEL_NEW"}
    [trigger] = on_filing["triggers"]
    from_yaml = DeploymentEventTrigger.model_validate(trigger)
    keys = {"expect", "posture", "threshold", "within", "for_each", "after", "parameters"}
    from_serve = serve.study_when_ready("on-filing", "watch")
    assert from_yaml.model_dump(include=keys | {"match", "name"}) == from_serve.model_dump(include=keys | {"match", "name"})
    assert from_yaml.parameters["event_ids"] == ["{{ event.payload.event_id }}"]
    *_, served_watch, served_on_filing = serve.build_deployments(Path("deployments/events.toml"), Path("reports"),
                                                                 watchlist=["AMZN", "MSFT"])
    assert served_watch.parameters["watchlist"] == ["AMZN", "MSFT"] and served_watch.concurrency_limit == 1
    [served_trigger] = served_on_filing.triggers
    assert served_trigger.model_dump(include=keys) == from_serve.model_dump(include=keys)
    assert served_trigger.match.model_dump() == {"prefect.resource.id": "market-reaction.event.*",
                                                 "market-reaction.watch": "watch-served"}


def test_the_nightly_refresh_does_not_overlap_and_is_rerun_after_a_crash_in_both():
    nightly = BY_NAME["nightly"]
    assert nightly["entrypoint"] == "flows/orchestration/tracked.py:refresh_catalog"
    assert nightly["concurrency_limit"] == {"limit": 1, "collision_strategy": "CANCEL_NEW"}
    [trigger] = nightly["triggers"]
    from_yaml = DeploymentEventTrigger.model_validate(trigger)
    from_serve = serve.rerun_after_crash("refresh-catalog", "nightly")
    keys = {"match", "match_related", "expect", "posture", "threshold", "within", "for_each", "after", "name"}
    assert from_yaml.model_dump(include=keys) == from_serve.model_dump(include=keys)
    assert "triggers" not in BY_NAME["adhoc"] and "concurrency_limit" not in BY_NAME["adhoc"]

    served_nightly, _ = serve.build_deployments(Path("deployments/events.toml"), Path("reports"))
    assert served_nightly.concurrency_limit == 1 and served_nightly.concurrency_options.collision_strategy == "CANCEL_NEW"
    [served_trigger] = served_nightly.triggers
    assert served_trigger.model_dump(include=keys - {"name", "match_related"}) == from_serve.model_dump(include=keys - {"name", "match_related"})
    assert served_trigger.match_related[1].model_dump() == {"prefect.resource.role": "deployment", "prefect.resource.name": "nightly-served"}


def test_the_pull_steps_enter_the_checkout_and_check_it_against_the_deployed_commit():
    [build] = SPEC["build"]
    assert build["prefect.deployments.steps.run_shell_script"] == {"id": "revision", "script": "git rev-parse HEAD", "stream_output": False}
    enter, check = SPEC["pull"]
    assert enter == {"prefect.deployments.steps.set_working_directory": {"directory": "{{ $MARKET_REACTION_CHECKOUT }}"}}
    script = check["prefect.deployments.steps.run_shell_script"]["script"]
    assert "\n" not in script.strip()  # one command line: run_shell_script runs each line on its own
    assert script.startswith("git diff --exit-code --stat {{ revision.stdout }} -- analysis flows")


def test_the_pull_step_refuses_a_checkout_whose_code_differs_from_the_deployed_commit(tmp_path):
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True, text=True).stdout

    git("init", "-q")
    for name in ("analysis/engine.py", "flows/cli.py", "docs/notes.md"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("x = 1\n")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "one")
    commit = git("rev-parse", "HEAD").strip()
    step = dict(SPEC["pull"][1]["prefect.deployments.steps.run_shell_script"])
    step["script"] = step["script"].replace("{{ revision.stdout }}", commit)  # as `prefect deploy` resolves it

    asyncio.run(run_shell_script(**step, directory=str(tmp_path)))  # the deployed code: the run goes on
    (tmp_path / "docs" / "notes.md").write_text("edited\n")  # not code
    asyncio.run(run_shell_script(**step, directory=str(tmp_path)))
    (tmp_path / "analysis" / "engine.py").write_text("x = 2\n")
    with pytest.raises(RuntimeError, match=f"(?s)analysis/engine.py.*differ from the deployed commit {commit}: git checkout {commit}"):
        asyncio.run(run_shell_script(**step, directory=str(tmp_path)))
