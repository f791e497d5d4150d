"""What Prefect shows of the tracked runs: the run form's parameter descriptions (from the
numpydoc docstrings) and readable run names."""

from __future__ import annotations

import inspect
from datetime import date
from types import SimpleNamespace

import polars as pl
import pytest
from prefect.utilities.callables import parameter_docstrings, parameter_schema

from flows.io.prices import FetchBatch
from flows.orchestration import forms, refresh, study
from flows.orchestration.tracked import TASKS, event_study, refresh_catalog, watch_events


@pytest.mark.parametrize("flow", [event_study, refresh_catalog], ids=lambda f: f.name)
def test_every_parameter_of_the_run_form_has_a_description(flow):
    schema = parameter_schema(flow)  # what `prefect deploy` and `serve` send as parameter_openapi_schema
    assert list(schema.properties) == list(inspect.signature(flow.fn).parameters)
    missing = [name for name, prop in schema.properties.items() if not prop.get("description")]
    assert missing == []
    props = schema.properties
    assert props["catalog"]["description"] == "TOML or CSV catalog (default: `deployments/events.toml`)."
    assert "As for" not in str(schema.model_dump())  # deferring texts take the other flow's
    if flow is refresh_catalog:
        assert props["force"]["description"] == "Recompute every event."
        assert props["windows"]["description"] == parameter_schema(event_study).properties["windows"]["description"]
    # the plain functions keep their numpydoc docstrings; Prefect reads none of them
    assert parameter_docstrings(inspect.getdoc(study.event_study)) == {}
    assert "Parameters\n----------" in inspect.getdoc(study.event_study)


def test_the_watch_run_form_is_described_and_its_runs_named_after_the_watchlist(monkeypatch):
    schema = parameter_schema(watch_events)
    assert list(schema.properties) == list(inspect.signature(watch_events.fn).parameters)
    assert all(p.get("description") for p in schema.properties.values())
    assert schema.properties["ready_day"]["description"].startswith("The event day whose close makes an event ready")
    monkeypatch.setattr(forms, "_current_parameters", lambda: {"watchlist": ["AMZN", "MSFT", "NVDA", "GOOGL", "BRK-B"]})
    name = forms.watch_run_name()
    assert name.startswith("watch-amzn-msft-nvda-and-2-more-20") and len(name) == len("watch-amzn-msft-nvda-and-2-more-") + 13
    assert watch_events.flow_run_name is forms.watch_run_name


def test_a_parameter_without_a_description_is_refused():
    def f(a: int = 1, b: int = 2) -> None:
        """Do it.

        Parameters
        ----------
        a
            The a.
        """

    with pytest.raises(ValueError, match="parameter 'b' has no description"):
        forms.run_form_docstring(f, {})


def test_run_names_come_from_the_events_or_the_catalog(monkeypatch):
    def with_parameters(**params):
        monkeypatch.setattr(forms, "_current_parameters", lambda: params)

    with_parameters(event_ids=["amzn-openai-aws-2025"], catalog="deployments/events.toml")
    assert forms.study_run_name() == "amzn-openai-aws-2025"
    with_parameters(event_ids=["amzn-openai-aws-2025", "nvda-openai-loi", "amd-openai-6gw"])
    assert forms.study_run_name() == "amzn-openai-aws-2025-and-2-more"
    with_parameters(event_ids=None, catalog="/data/Deals 2025.toml")
    assert forms.study_run_name().startswith("deals-2025-") and forms.study_run_name().endswith("-all")
    with_parameters(catalog="deployments/events.toml", force=True)
    assert forms.refresh_run_name().startswith("events-20") and forms.refresh_run_name().endswith("-forced")
    assert event_study.flow_run_name is forms.study_run_name and refresh_catalog.flow_run_name is forms.refresh_run_name


def test_task_run_names_say_what_each_task_works_on():
    batch = FetchBatch(("AMZN", "^GSPC", "MSFT", "NVDA"), date(2024, 10, 1), date(2025, 11, 10))
    named = {t.name: t.task_run_name for t in TASKS.values()}
    assert named["store-prices"](parameters={"batch": batch}) == "store-prices AMZN,^GSPC,MSFT+1 2024-10-01..2025-11-10"
    assert named["load-catalog"](parameters={"catalog": "/x/deployments/events.toml"}) == "load-catalog events.toml"
    events = tuple(SimpleNamespace(id=f"e{i}") for i in range(5))
    assert named["write-event-reports"](parameters={"events": events}) == "write-event-reports e0,e1,e2+2"
    assert named["event-batch"](parameters={"rows": pl.DataFrame({"x": [1, 2]})}) == "event-batch 2 event rows"
    assert named["load-data"](parameters={"needs": pl.DataFrame({"ticker": ["A", "B"]})}) == "load-data A,B"
    assert named["load-factors"](parameters={}) == "load-factors"  # a name never fails a task
    assert all(callable(n) for n in named.values()) and set(forms.NAMED_BY) >= set(named)
    assert refresh.fingerprint_events in TASKS
