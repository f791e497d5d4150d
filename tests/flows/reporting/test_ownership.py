"""The tool replaces only what it wrote (issue "never touch what you did not write"): a
folder with another tool's manifest.json is refused before any computation, files an
analyst added to a report survive a rerun, a foreign index.html is never overwritten, and a
sibling folder with a foreign or unreadable manifest is left out of the index with a warning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flows.cli.main import main
from flows.reporting.ownership import report_manifest

REPO = Path(__file__).resolve().parents[3]
CATALOG = REPO / "deployments" / "events.toml"
AWS = "amzn-openai-aws-2025"


@pytest.fixture
def amzn(mr_home, shared_data, capsys):
    p = shared_data / "prices"
    assert main(["prices", "import", str(p / "AMZN.csv")]) == 0
    assert main(["prices", "import", str(p / "GSPC.csv"), "--ticker", "^GSPC"]) == 0
    capsys.readouterr()
    return mr_home


def run(out: Path) -> int:
    return main(["run", AWS, "--catalog", str(CATALOG), "--source", "store", "--out", str(out)])


def test_a_folder_with_another_tools_manifest_is_refused_before_any_work(amzn, tmp_path, capsys, monkeypatch):
    site = tmp_path / "webapp"
    site.mkdir()
    (site / "manifest.json").write_text(json.dumps({"name": "My PWA", "icons": []}))
    (site / "app.js").write_text("console.log(1)")
    import flows.orchestration.study as study

    monkeypatch.setattr(study, "study_events", lambda *a, **k: pytest.fail("computed"))
    assert run(site) == 1
    err = capsys.readouterr().err
    assert str(site) in err and "did not write" in err
    assert sorted(p.name for p in site.iterdir()) == ["app.js", "manifest.json"]


def test_files_an_analyst_added_to_a_report_survive_a_rerun(amzn, tmp_path, capsys):
    out = tmp_path / "reports" / "aws"
    assert run(out) == 0
    assert report_manifest(out)["generator"] == {"name": "market-reaction", "format": 1}
    (out / "my_notes.md").write_text("AWS deal: check the earnings overlap")
    (out / "plots" / "mine").mkdir()
    (out / "plots" / "mine" / "chart.png").write_bytes(b"png")
    capsys.readouterr()
    assert run(out) == 0
    assert (out / "my_notes.md").read_text() == "AWS deal: check the earnings overlap"
    assert (out / "plots" / "mine" / "chart.png").read_bytes() == b"png"
    assert "kept 2 file(s) market-reaction did not write: my_notes.md, plots/mine/chart.png" in capsys.readouterr().err
    assert not {"my_notes.md", "plots/mine/chart.png"} & set(report_manifest(out)["outputs"])


def test_an_added_file_whose_name_the_new_report_takes_is_kept_beside_it(tmp_path):
    from flows.reporting.publish import _keep_added_files

    old, new = tmp_path / "old", tmp_path / "new"
    for folder in (old, new):
        (folder / "tables").mkdir(parents=True)
        (folder / "report.html").write_text(folder.name)
        (folder / "car.parquet").write_text(folder.name)
    (old / "manifest.json").write_text(json.dumps({
        "generator": {"name": "market-reaction", "format": 1}, "outputs": {"report.html": "", "car.parquet": ""}}))
    (old / "tables" / "brief.html").write_text("the analyst's")  # the new report writes one of that name
    (new / "tables" / "brief.html").write_text("the new report's")
    _keep_added_files(old, new)
    assert (new / "tables" / "brief.html").read_text() == "the new report's"
    assert (new / "tables" / "brief.html.kept").read_text() == "the analyst's"
    assert not (new / "manifest.json").exists()  # the old manifest is not an added file


def test_a_foreign_index_html_is_never_overwritten(amzn, tmp_path, capsys):
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<html><body>my own home page</body></html>")
    assert run(site / "study") == 0
    assert (site / "index.html").read_text() == "<html><body>my own home page</body></html>"
    assert "index.html was not written by market-reaction" in capsys.readouterr().err
    assert run(tmp_path / "reports" / "aws") == 0  # where there is none, the index is written, and rewritten
    assert run(tmp_path / "reports" / "aws") == 0
    assert "market-reaction reports" in (tmp_path / "reports" / "index.html").read_text()


def test_foreign_or_unreadable_sibling_manifests_are_left_out_of_the_index(amzn, tmp_path, capsys):
    reports = tmp_path / "reports"
    for name, text in (("pwa", json.dumps(["not", "an", "object"])), ("broken", "{not json"),
                       ("fake", json.dumps({"generator": {"name": "market-reaction", "format": 1}}))):
        (reports / name).mkdir(parents=True)
        (reports / name / "manifest.json").write_text(text)
    assert run(reports / "aws") == 0
    err = capsys.readouterr().err
    for name in ("pwa", "broken", "fake"):
        assert f"{reports / name / 'manifest.json'}: not a report market-reaction wrote" in err
    index = (reports / "index.html").read_text()
    assert 'href="aws/report.html"' in index and "pwa" not in index and "fake" not in index
