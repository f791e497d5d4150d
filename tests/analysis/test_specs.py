"""Validation of Window, StudySpec and EventSpec (analysis.specs): every error names its field."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from analysis.errors import InputError
from analysis.specs import DEFAULT_WINDOWS, EventSpec, StudySpec, Window, parse_factors_option


def raises_on(expected_field: str, fn, *args, **kwargs) -> InputError:
    """Call ``fn``; expect an InputError whose field (and message) name ``expected_field``."""
    with pytest.raises(InputError) as info:
        fn(*args, **kwargs)
    err = info.value
    assert err.field == expected_field, (err.field, str(err))
    assert f"field {expected_field!r}" in str(err)
    assert isinstance(err, ValueError)
    return err


# --- Window ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("-1:1", -1, 1),
        ("-1,1", -1, 1),
        ("[-1,+1]", -1, 1),
        (" [ -5 , +5 ] ", -5, 5),
        ("0:0", 0, 0),
        ("+2:3", 2, 3),
        ("-260:-11", -260, -11),
        ("[0:10]", 0, 10),
    ],
)
def test_window_parse_forms(text, start, end):
    w = Window.parse(text)
    assert (w.start, w.end) == (start, end)
    assert Window.parse(str(w)) == w  # str() round-trips


@pytest.mark.parametrize("text", ["", "1", "a:b", "1:2:3", "1.5:2", "-1 1", "[-1;1]", "--1:1"])
def test_window_parse_rejects_malformed_text(text):
    err = raises_on("window", Window.parse, text)
    assert "START:END" in str(err)


def test_window_parse_names_the_callers_field():
    raises_on("estimation", Window.parse, "x", field="estimation")
    err = raises_on("estimation", Window.parse, "-11:-260", field="estimation")
    assert "after its end" in str(err)


@pytest.mark.parametrize(("start", "end"), [(1, -1), (True, 2), (0, 1.0), ("0", 1)])
def test_window_rejects_bad_bounds(start, end):
    raises_on("window", Window, start, end)


def test_window_properties():
    assert Window(-5, 5).length == 11 and Window(0, 0).length == 1
    assert [w.label for w in DEFAULT_WINDOWS] == ["[0,0]", "[-1,+1]", "[-5,+5]"]
    assert Window(0, 10).label == "[0,+10]" and Window(-10, 0).label == "[-10,0]"
    assert str(Window(-260, -11)) == "-260:-11"


# --- StudySpec ---------------------------------------------------------------------------


def test_study_spec_defaults():
    spec = StudySpec()
    assert spec.estimation == Window(-260, -11) and spec.estimation.length == 250
    assert spec.windows == (Window(0, 0), Window(-1, 1), Window(-5, 5))
    assert (spec.model, spec.returns, spec.min_estimation_obs, spec.calendar) == ("market", "simple", 120, "XNYS")
    assert spec.first_day == -260 and spec.report_days == Window(-5, 5)
    assert spec.as_dict()["windows"] == ["0:0", "-1:1", "-5:5"]


def test_study_spec_drops_duplicate_windows_keeping_order():
    spec = StudySpec(windows=(Window(-1, 1), Window(0, 0), Window(-1, 1)))
    assert spec.windows == (Window(-1, 1), Window(0, 0))


@pytest.mark.parametrize(
    ("kwargs", "field", "fragment"),
    [
        ({"estimation": Window(-260, 0)}, "estimation", "must end before"),
        ({"estimation": Window(-260, -1), "windows": (Window(-1, 1),)}, "estimation", "day -1"),  # overlaps [-1,+1]
        ({"estimation": Window(-260, -5), "windows": (Window(-5, 5),)}, "estimation", "day -5"),
        ({"estimation": Window(10, 100), "windows": (Window(0, 0),)}, "estimation", "must end before"),
        ({"windows": ()}, "windows", "at least one"),
        ({"model": "fama-french"}, "model", "market, constant-mean, market-adjusted"),
        ({"model": "Market"}, "model", "'Market'"),
        ({"returns": "excess"}, "returns", "simple, log"),
        ({"min_estimation_obs": 2}, "min_estimation_obs", "between 3 and the estimation length 250"),
        ({"min_estimation_obs": 251}, "min_estimation_obs", "251"),
        ({"min_estimation_obs": 120.0}, "min_estimation_obs", "120.0"),
        ({"estimation": Window(-30, -11), "min_estimation_obs": 21}, "min_estimation_obs", "length 20"),
    ],
)
def test_study_spec_errors_name_the_field(kwargs, field, fragment):
    err = raises_on(field, StudySpec, **kwargs)
    assert fragment in str(err), str(err)


def test_study_spec_edge_values_are_accepted():
    assert StudySpec(min_estimation_obs=3).min_estimation_obs == 3
    assert StudySpec(min_estimation_obs=250).min_estimation_obs == 250
    spec = StudySpec(estimation=Window(-100, -2), windows=(Window(-1, 1),), model="constant-mean", returns="log",
                     min_estimation_obs=99)
    assert spec.first_day == -100 and spec.report_days == Window(-1, 1)


@pytest.mark.parametrize(
    ("kwargs", "field", "fragment"),
    [
        ({"model": "factors"}, "factors", "needs a factor set and its columns"),
        ({"model": "factors", "factor_set": "mine"}, "factors", "needs a factor set"),
        ({"model": "factors", "factor_set": "My Set", "factors": ("a",)}, "factor_set", "'My Set'"),
        ({"model": "factors", "factor_set": "mine", "factors": ("a", "A")}, "factors", "listed twice"),
        ({"model": "factors", "factor_set": "mine", "factors": ("2x",)}, "factors", "'2x'"),
        ({"model": "factors", "factor_set": "mine", "factors": "ab"}, "factors", "a list of column names"),
        ({"model": "factors", "factor_set": "mine", "factors": ("a", "rf")}, "factors", "risk-free"),
        ({"model": "ff3", "factors": ("a",)}, "factors", "only used with model 'factors'"),
        ({"factor_set": "mine"}, "factors", "not 'market'"),
        ({"risk_free": "ff3"}, "risk_free", "the market model uses raw returns"),
        ({"model": "constant-mean", "risk_free": "ff3"}, "risk_free", "raw returns"),
        ({"model": "capm", "risk_free": "DTB3"}, "risk_free", "'DTB3'"),
        ({"model": "ff5", "min_estimation_obs": 6}, "min_estimation_obs", "between 7 and the estimation length 250 (the ff5 model has 6 parameters)"),
    ],
)
def test_factor_options_errors_name_the_field(kwargs, field, fragment):
    err = raises_on(field, StudySpec, **kwargs)
    assert fragment in str(err), str(err)


def test_factor_models_sets_and_defaults():
    assert StudySpec().risk_free is None and StudySpec().factor_sets == () and StudySpec().n_params == 2
    capm = StudySpec(model="capm")
    assert (capm.risk_free, capm.factor_sets, capm.factor_columns, capm.n_params) == ("ff3", ("ff3",), (), 2)
    c4 = StudySpec(model="carhart4")
    assert c4.factor_sets == ("ff3", "mom") and c4.n_params == 5
    assert [c for _, c in c4.factor_columns] == ["mkt_rf", "smb", "hml", "mom"]
    ff5 = StudySpec(model="ff5", risk_free="dtb3", min_estimation_obs=7)
    assert ff5.factor_sets == ("ff5", "dtb3") and ff5.n_params == 6
    own = StudySpec(model="factors", factor_set="q", factors=(" ME", "ia"))
    assert own.factors == ("me", "ia") and own.risk_free is None and own.factor_sets == ("q",)
    assert own.as_dict()["factors"] == ["me", "ia"] and own.as_dict()["factor_set"] == "q"
    assert StudySpec(model="factors", factor_set="q", factors=("me",), risk_free="ff3").factor_sets == ("q", "ff3")


def test_parse_factors_option():
    assert parse_factors_option("mine:Mkt_RF, smb") == ("mine", ("mkt_rf", "smb"))
    for bad in ("mine", "mine:", ":a", "Mine:a"):
        with pytest.raises(InputError):
            parse_factors_option(bad)


def test_study_spec_is_frozen():
    with pytest.raises(AttributeError):
        StudySpec().model = "constant-mean"  # type: ignore[misc]


# --- EventSpec ---------------------------------------------------------------------------

NY_CLOSE = datetime(2025, 10, 30, 20, 1, tzinfo=timezone.utc)


def event(**kwargs) -> EventSpec:
    base = {"id": "amzn-aws", "tickers": ("AMZN",), "announced": date(2025, 11, 3)}
    return EventSpec(**(base | kwargs))


def test_event_spec_normalises():
    ev = event(tickers=["amzn", "AMZN", "brk-b"], related=["msft", "AMZN", "NVDA", "MSFT"], benchmark="^gspc")
    assert ev.tickers == ("AMZN", "BRK-B")
    assert ev.related == ("MSFT", "NVDA")  # duplicates and primary tickers dropped
    assert ev.benchmark == "^GSPC"
    assert ev.timing == "unknown" and ev.group == "all"
    assert ev.announced_text == "2025-11-03"
    assert event(announced=NY_CLOSE, timing="after-close").announced_text == "2025-10-30T20:01:00+00:00"


@pytest.mark.parametrize("bad_id", ["AMZN-AWS", "", "-aws", "_aws", "amzn aws", "amzn/aws", "a" * 129, 7, None])
def test_event_id_must_be_a_safe_file_name(bad_id):
    err = raises_on("id", event, id=bad_id)
    assert "safe file name" in str(err)


def test_event_id_limits_accepted():
    assert event(id="a" * 128).id == "a" * 128
    assert event(id="0_x-1").id == "0_x-1"


@pytest.mark.parametrize("tickers", ["AMZN", (), [], ["AM ZN"], ["amzn", "$X"], [7]])
def test_event_tickers_validation(tickers):
    err = raises_on("tickers", event, tickers=tickers)
    assert err.event == "amzn-aws"
    assert "event 'amzn-aws'" in str(err)


def test_event_related_and_benchmark_validation():
    raises_on("related", event, related=["MS FT"])
    raises_on("benchmark", event, benchmark="S&P 500")


@pytest.mark.parametrize("timing", ["after close", "AFTER-CLOSE", "before-open", "", None])
def test_event_timing_validation(timing):
    err = raises_on("timing", event, timing=timing)
    assert "pre-open, intraday, after-close, unknown" in str(err)


@pytest.mark.parametrize("announced", ["2025-11-03", 20251103, None, datetime(2025, 10, 30, 16, 1)])
def test_event_announced_validation(announced):
    err = raises_on("announced", event, announced=announced)
    if isinstance(announced, datetime):
        assert "needs a zone" in str(err)


@pytest.mark.parametrize("group", ["", "   ", None])
def test_event_group_validation(group):
    raises_on("group", event, group=group)
