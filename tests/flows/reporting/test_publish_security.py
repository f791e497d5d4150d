"""Output hygiene: a catalog full of hostile text, through a whole ``write_report`` and the
index, renders inert in every format, and no name from it becomes a path outside the report.

The hostile text carries HTML (script, img onerror, a javascript: link), Markdown (links,
images, code, emphasis, strike-through, pipes, a heading after a line break), LaTeX's
specials ``\\ { } $ & # ^ _ ~ %`` and a spreadsheet formula. It goes into descriptions,
sources, claims, characteristic names, and group names that are paths (``../../``,
``/abs/``). HTML and SVG are checked with ``html.parser``, Markdown by rendering it with
markdown-it (CommonMark + tables) and parsing the result.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import polars as pl
import pytest
from markdown_it import MarkdownIt

from analysis.calendar import exchange_calendar
from analysis.catalog import parse_catalog_toml
from analysis.engine import run_study
from flows.devtools.market import simulate_market
from analysis.specs import StudySpec, events_frame
from flows.reporting.index import write_index
from flows.reporting.plots import file_stem, file_stems
from flows.reporting.publish import write_report
from flows.orchestration.refresh import event_folder
from flows.io.store import PriceStore
from flows.orchestration.study import run_manifest
from flows.reporting.answers import headline

HOSTILE = (
    "<script>alert(1)</script><img src=x onerror=alert(2)> [click](javascript:alert(3)) ![i](http://x.test/i.png) "
    "<a href=\"javascript:alert(4)\">a</a> `code` *em* _u_ ~~s~~ | pipe \\ { } $1 & # ^ _ ~ % \"q\" 'q' &lt;b&gt; "
    "<iframe src=//x.test></iframe>\n# heading"
)
GROUPS = {
    "acme-merger": "../../escape " + HOSTILE,
    "bolt-recall": "../../escape " + HOSTILE,
    "crux-guidance": "/abs/path/" + HOSTILE,
    "dyna-placebo": '=HYPERLINK("http://x.test","click") ' + HOSTILE,
}
SECRET = "s3cr3t-in-the-environment"
LATEX = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#",
         "^": r"\textasciicircum{}", "_": r"\_", "~": r"\textasciitilde{}", "%": r"\%", "<": r"\textless{}",
         ">": r"\textgreater{}"}


def latex(text: str) -> str:
    """The escaping LaTeX needs (an independent table of the specials)."""
    return "".join(LATEX.get(c, c) for c in text)


def catalog_text() -> str:
    events = simulate_market(exchange_calendar()).events
    blocks = []
    for e in events:
        blocks.append(
            f'[[events]]\nid = "{e.id}"\ntickers = ["{e.tickers[0]}"]\nannounced = "{e.announced_text}"\n'
            f'timing = "{e.timing}"\nbenchmark = "{e.benchmark}"\ngroup = {json.dumps(GROUPS[e.id])}\n'
            f"description = {json.dumps(HOSTILE)}\nsource = {json.dumps('javascript:alert(9) ' + HOSTILE)}\n"
            f"claims = [{json.dumps(HOSTILE)}]\n[events.characteristics]\n{json.dumps(HOSTILE)} = 1.5\nsize = 2.0\n"
        )
    return "\n".join(blocks)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """The report of the hostile catalog and the index of its folder, with secrets in the
    environment; returns (base folder, report folder, files before)."""
    base = tmp_path_factory.mktemp("hostile")
    mp = pytest.MonkeyPatch()
    for name in ("PREFECT_API_KEY", "AWS_SECRET_ACCESS_KEY", "MR_API_TOKEN"):
        mp.setenv(name, SECRET)
    try:
        cal = exchange_calendar()
        market = simulate_market(cal)
        events = parse_catalog_toml(catalog_text(), "hostile.toml")
        result = run_study(events_frame(events), market.prices, StudySpec(), cal, market.shares)
        manifest = run_manifest(base / "hostile.toml", events, result.spec, "store", PriceStore(base / "store"),
                                pl.DataFrame(schema={"ticker": pl.String, "start": pl.Date, "end": pl.Date}), [HOSTILE])
        reports = base / "deep" / "reports"
        out = write_report(result, reports / "run", {**manifest, "headline": headline(result)},
                           title="Market reaction: " + HOSTILE, headline=HOSTILE, latex=True)
        write_index(reports)
    finally:
        mp.undo()
    return base, out, events, result


class Page(HTMLParser):
    """Tags, attributes and text of an HTML or SVG document."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        self.text.append(data)

    @property
    def plain(self) -> str:
        return re.sub(r"\s+", " ", "".join(self.text))


def assert_inert(page: Page, where: str, images: str = r"plots/[a-z0-9_-]+\.svg") -> None:
    """No script, frame or form; images only our plots; links only inside the page or to
    reports (relative, or file URLs in artifacts) or the report's data CSVs; no event-handler attribute, no javascript:
    anywhere in an attribute."""
    for tag, attrs in page.tags:
        assert tag not in {"script", "iframe", "object", "embed", "base", "form", "link", "meta"} or (
            tag == "meta" and (set(attrs) == {"charset"}
                               or attrs == {"name": "viewport", "content": "width=device-width, initial-scale=1"})
        ), (where, tag, attrs)
        for name, value in attrs.items():
            assert not name.startswith("on"), (where, tag, name, value)
            assert "javascript:" not in (value or "").lower().replace(" ", ""), (where, tag, name, value)
        if tag == "img":
            assert re.fullmatch(images, attrs.get("src") or ""), (where, attrs)
        for ref in ("href", "src", "xlink:href"):
            if ref in attrs and tag != "img":
                # inside the page, a report, or a data file of the report beside the page (its CSV)
                assert re.fullmatch(r"#[\w-]*|(file://)?[\w./%-]*report\.html|[a-z_]+\.csv", attrs[ref] or ""), (where, tag, attrs)


def test_html_pages_show_user_text_as_text(written):
    _, out, *_ = written
    pages = [out / "report.html", *sorted((out / "tables").glob("*.html")), out.parent / "index.html"]
    assert len(pages) >= 9
    for path in pages:
        assert_inert(Page(path.read_text()), path.name)
    report = Page((out / "report.html").read_text()).plain
    flat = re.sub(r"\s+", " ", HOSTILE)
    assert flat in report and GROUPS["crux-guidance"].replace("\n", " ") in report  # shown, verbatim
    index = Page((out.parent / "index.html").read_text()).plain
    assert flat in index  # the descriptions


def test_svg_plots_are_well_formed_and_inert(written):
    _, out, *_ = written
    svgs = sorted((out / "plots").glob("*.svg"))
    assert len(svgs) == 4 + 4 + 3  # 4 events (CAR and move), 3 groups
    titles = []
    for path in svgs:
        text = path.read_text()
        ET.fromstring(text)  # well-formed XML: every user character escaped
        page = Page(text)
        assert_inert(page, path.name)
        titles.append(page.plain)
    assert any("../../escape <script>alert(1)</script>" in t for t in titles)


def render_markdown(text: str) -> str:
    return MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(text)


def test_markdown_renders_inert_with_the_text_verbatim(written):
    _, out, *_ = written
    for path in [out / "report.md", *sorted((out / "tables").glob("*.md"))]:
        page = Page(render_markdown(path.read_text()))
        assert_inert(page, path.name, images=r"plots/[a-z0-9_-]+\.png")
        tags = [tag for tag, _ in page.tags]
        assert not {"a", "code", "del"} & set(tags), path.name  # no link, code or strike-through from user text
        assert tags.count("h1") == (path.name == "report.md"), path.name  # the title only: no heading from a line break
    # a table's cells survive whole: every row of the events table has as many cells as its header, the group verbatim
    page = Page(render_markdown((out / "tables" / "events.md").read_text()))
    rows = render_markdown((out / "tables" / "events.md").read_text()).split("<tr>")[1:]
    n = rows[0].count("<th")
    assert len(rows) == 5 and n >= 11 and all(row.count("<td") == n for row in rows[1:])
    assert GROUPS["acme-merger"].replace("\n", " ") in page.plain
    title = Page(render_markdown((out / "report.md").read_text().split("\n", 1)[0])).plain
    assert title.strip() == "Market reaction: " + HOSTILE.replace("\n", " ")


def test_latex_escapes_every_special(written):
    _, out, *_ = written
    tex = (out / "tables" / "events.tex").read_text()
    for group in set(GROUPS.values()):
        assert latex(group.split("\n")[0]) in tex
        assert group.split("\n")[0] not in tex
    for path in (out / "tables").glob("*.tex"):
        assert "<script>" not in path.read_text() and "\\input" not in path.read_text()


def test_no_file_outside_the_report_and_safe_names(written):
    base, out, *_ = written
    files = {p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file()}
    report = {f for f in files if f.startswith("deep/reports/run/")}
    assert files - report == {"deep/reports/index.html", "deep/reports/.publish.lock"}
    for name in report:
        assert re.fullmatch(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*", name.removeprefix("deep/reports/run/")), name
        assert ".." not in name.split("/")
    plots = sorted(p.name for p in (out / "plots").glob("caar-*.png"))
    assert len(plots) == 3 and plots[0].startswith("caar-")  # three groups, three files
    assert len(list((out / "tables").glob("pooled*.md"))) <= 3


def test_manifest_keeps_user_text_as_data_and_no_secret_is_written(written):
    base, out, *_ = written
    manifest = json.loads((out / "manifest.json").read_text())
    assert {e["description"] for e in manifest["event_info"]} == {HOSTILE}
    assert manifest["warnings"][0] == HOSTILE and {e["group"] for e in manifest["event_info"]} == set(GROUPS.values())
    assert not any(k.lower() in {"env", "environ", "environment"} for k in manifest)
    for path in base.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_display_csv_cannot_run_as_a_spreadsheet_formula(written):
    _, out, *_ = written
    table = pl.read_csv(out / "tables" / "events.csv")
    assert not table["group"].str.contains(r"^[=@+-]").any()
    assert table.filter(pl.col("event") == "dyna-placebo")["group"].item() == "'" + GROUPS["dyna-placebo"]
    data = pl.read_csv(out / "events.csv")  # the data twin keeps the text as written
    assert data.filter(pl.col("event_id") == "dyna-placebo")["group"].item() == GROUPS["dyna-placebo"]


def test_names_from_catalogs_never_leave_their_folder():
    for name in ("../x", "../../etc/passwd", "/abs/path", ".hidden", "a/b", "..", ".", "", "A\x00B", "ok name", "-x"):
        stem = file_stem(name)
        assert re.fullmatch(r"[a-z0-9][a-z0-9_-]*", stem) and stem not in (".", ".."), (name, stem)
        with pytest.raises(ValueError, match="not a safe folder name"):
            event_folder("reports", name)
    assert file_stem("amzn-openai-aws-2025") == "amzn-openai-aws-2025" and file_stem("deals_2025") == "deals_2025"
    stems = file_stems(["x-" + file_stem("X")[2:], "X", "x"])  # a name crafted to equal another's slug
    assert len(set(stems.values())) == 3


def test_artifacts_carry_no_live_markup(written, monkeypatch):
    import prefect.artifacts as pa

    from flows.orchestration.artifacts import publish_artifacts
    from flows.reporting.answers import answer_sentences

    _, out, events, result = written
    made: list[dict] = []
    for fn in ("create_table_artifact", "create_markdown_artifact", "create_link_artifact"):
        monkeypatch.setattr(pa, fn, lambda _fn=fn, **kw: made.append({"fn": _fn, **kw}))
    keys = publish_artifacts(result, {e.id: out for e in events}, [(a.event_id, a.ticker, a.sentence) for a in answer_sentences(result)],
                             out.parent)
    assert keys and all(re.fullmatch(r"[a-z0-9-]+", k) for k in keys)
    for art in made:
        for field in ("description", "markdown", "link_text"):
            if art.get(field):
                page = Page(render_markdown(art[field]))
                assert_inert(page, art["key"])
                assert not [t for t, _ in page.tags if t in {"img", "script"}], art
