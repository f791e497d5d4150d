"""SEC EDGAR filings as catalog events: EDGAR's answers parsed, timed and described.

Pure: these functions read the *text* of EDGAR's answers and return values and
:class:`~analysis.specs.EventSpec` s; asking EDGAR and caching its answers is
:mod:`flows.io.edgar`'s job. Three kinds of answer are read:

``company_tickers.json`` (``www.sec.gov/files/``)
    ``{"0": {"cik_str": 1018724, "ticker": "AMZN", "title": "AMAZON COM INC"}, ...}``:
    ticker → CIK (:func:`parse_ticker_map`).
``submissions/CIK##########.json`` (``data.sec.gov``)
    the company's name and tickers, ``filings.recent`` (one array per field:
    ``accessionNumber``, ``filingDate``, ``acceptanceDateTime``, ``form``, ``items``,
    ``primaryDocument``, ...) and ``filings.files``: the older pages
    (``{"name": "CIK##########-submissions-001.json", "filingFrom": ..., "filingTo": ...}``),
    each holding the same arrays at its top level (:func:`parse_submissions`).
the SEC header of a filing (``Archives/edgar/data/<cik>/<accession digits>/<accession>.hdr.sgml``)
    ``<ACCEPTANCE-DATETIME>20251030160152`` (YYYYMMDDhhmmss, **US/Eastern**), the form
    (``<TYPE>8-K``), the items (``<ITEMS>2.02``, one tag each; the text form of the
    full submission says ``ITEM INFORMATION:  Results of Operations and Financial Condition``)
    and the company (``<CONFORMED-NAME>``) (:func:`parse_header`).

**The acceptance time.** The submissions JSON's ``acceptanceDateTime`` ends in ``Z`` but,
for about a fifth of filers (measured by others on 64,936 8-K filings of S&P 500 companies),
it is the New York clock, not UTC: a filing accepted at 16:21:59 New York time, after the
close (day 0 the next session), reads 16:21:59Z = 12:21 New York, mid-session. The header's
``<ACCEPTANCE-DATETIME>`` is authoritative, so the events' ``announced`` time and timing come
from it alone; the JSON's value only selects the filings to time (:func:`json_clock` says
which clock it was on, for the record).

**Events.** One per filing (:func:`filing_events`): id ``<ticker>-<form>-<accession>``
(``amzn-8k-0001018724-25-000123``, :func:`filing_id`), the ticker(s), ``announced`` = the
acceptance time in New York with its offset, the timing that follows from it on the
exchange calendar (:func:`analysis.calendar.stated_timing`: ``unknown`` on a day with no
session, such as Good Friday, when EDGAR is open; day 0 is then the next session either way), a description (form, item numbers
and names, company), the filing's index page as source and a group by item
(:func:`item_group`: ``earnings`` for 2.02, ``material-agreements`` for 1.01, ...).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import polars as pl

from analysis.calendar import SessionCalendar, stated_timing
from analysis.errors import DataUnavailableError
from analysis.specs import EventSpec, check_ticker

EDGAR_TZ = ZoneInfo("America/New_York")
"""EDGAR's clock: ``<ACCEPTANCE-DATETIME>`` is US/Eastern local time."""
SEC_WWW = "https://www.sec.gov"
"""Where a filing's index page is (the events' ``source``, whatever mirror served the answers)."""
ACCESSION = re.compile(r"(?<!\d)(\d{10})-(\d{2})-(\d{6})(?!\d)")

ITEM_NAMES: dict[str, str] = {
    "1.01": "Entry into a Material Definitive Agreement",
    "1.02": "Termination of a Material Definitive Agreement",
    "1.03": "Bankruptcy or Receivership",
    "1.04": "Mine Safety - Reporting of Shutdowns and Patterns of Violations",
    "1.05": "Material Cybersecurity Incidents",
    "2.01": "Completion of Acquisition or Disposition of Assets",
    "2.02": "Results of Operations and Financial Condition",
    "2.03": "Creation of a Direct Financial Obligation or an Obligation under an Off-Balance Sheet Arrangement of a Registrant",
    "2.04": "Triggering Events That Accelerate or Increase a Direct Financial Obligation or an Obligation under an "
            "Off-Balance Sheet Arrangement",
    "2.05": "Costs Associated with Exit or Disposal Activities",
    "2.06": "Material Impairments",
    "3.01": "Notice of Delisting or Failure to Satisfy a Continued Listing Rule or Standard; Transfer of Listing",
    "3.02": "Unregistered Sales of Equity Securities",
    "3.03": "Material Modification to Rights of Security Holders",
    "4.01": "Changes in Registrant's Certifying Accountant",
    "4.02": "Non-Reliance on Previously Issued Financial Statements or a Related Audit Report or Completed Interim Review",
    "5.01": "Changes in Control of Registrant",
    "5.02": "Departure of Directors or Certain Officers; Election of Directors; Appointment of Certain Officers; "
            "Compensatory Arrangements of Certain Officers",
    "5.03": "Amendments to Articles of Incorporation or Bylaws; Change in Fiscal Year",
    "5.04": "Temporary Suspension of Trading Under Registrant's Employee Benefit Plans",
    "5.05": "Amendments to the Registrant's Code of Ethics, or Waiver of a Provision of the Code of Ethics",
    "5.06": "Change in Shell Company Status",
    "5.07": "Submission of Matters to a Vote of Security Holders",
    "5.08": "Shareholder Director Nominations",
    "6.01": "ABS Informational and Computational Material",
    "6.02": "Change of Servicer or Trustee",
    "6.03": "Change in Credit Enhancement or Other External Support",
    "6.04": "Failure to Make a Required Distribution",
    "6.05": "Securities Act Updating Disclosure",
    "7.01": "Regulation FD Disclosure",
    "8.01": "Other Events",
    "9.01": "Financial Statements and Exhibits",
}
"""The items of Form 8-K and their names, as EDGAR spells them."""

ITEM_GROUPS: dict[str, str] = {
    "2.02": "earnings",
    "1.01": "material-agreements", "1.02": "material-agreements",
    "1.03": "bankruptcy", "1.04": "mine-safety", "1.05": "cybersecurity",
    "2.01": "acquisitions-disposals",
    "2.03": "financing", "2.04": "financing",
    "2.05": "restructuring", "2.06": "impairments",
    "3.01": "listing", "3.02": "securities", "3.03": "securities",
    "4.01": "accounting", "4.02": "accounting",
    "5.01": "control", "5.02": "management", "5.03": "governance", "5.04": "governance", "5.05": "governance",
    "5.06": "governance", "5.07": "shareholder-votes", "5.08": "governance",
    "6.01": "asset-backed", "6.02": "asset-backed", "6.03": "asset-backed", "6.04": "asset-backed",
    "6.05": "asset-backed",
    "7.01": "regulation-fd", "8.01": "other-events", "9.01": "exhibits",
}
"""The group of an event by item. A filing's group is that of its first item in this order
(earnings first; Regulation FD, other events and exhibits, which go with other items, last)."""
_NAME_TO_ITEM = {re.sub(r"\W+", " ", name).strip().lower(): item for item, name in ITEM_NAMES.items()}


@dataclass(frozen=True, slots=True)
class Filing:
    """One row of a submissions file: what selects a filing before its header is read."""

    cik: int
    accession: str
    form: str
    filed: date
    accepted_json: str
    """``acceptanceDateTime`` as the JSON has it (UTC or the New York clock: see the module doc)."""
    items: tuple[str, ...]
    company: str


@dataclass(frozen=True, slots=True)
class FilingHeader:
    """What a filing's SEC header says."""

    accession: str
    form: str
    accepted: datetime
    """The acceptance time, aware, in New York (``<ACCEPTANCE-DATETIME>``)."""
    items: tuple[str, ...]
    company: str


@dataclass(frozen=True, slots=True)
class Submissions:
    """A submissions file: the company, its filings and the older pages it links."""

    cik: int
    company: str
    filings: tuple[Filing, ...]
    pages: tuple[tuple[str, date | None, date | None], ...]
    """``(name, filingFrom, filingTo)`` of each older page (``filings.files``)."""


def _garbled(url: str, what: str) -> DataUnavailableError:
    return DataUnavailableError(f"{url}: EDGAR's answer could not be read ({what})")


def _json(text: str, url: str) -> object:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as e:
        raise _garbled(url, f"not valid JSON: {e}") from None


def parse_ticker_map(text: str, url: str) -> dict[str, int]:
    """Ticker → CIK from ``company_tickers.json`` (upper-case tickers; ``BRK.B`` is also
    found as ``BRK-B``, Yahoo's spelling)."""
    doc = _json(text, url)
    rows = doc.values() if isinstance(doc, dict) else None
    try:
        out: dict[str, int] = {}
        for row in rows:  # type: ignore[union-attr]
            ticker, cik = str(row["ticker"]).strip().upper(), int(row["cik_str"])
            out.setdefault(ticker, cik)
            out.setdefault(ticker.replace(".", "-"), cik)
    except (TypeError, KeyError, ValueError, AttributeError):
        raise _garbled(url, 'expected {"0": {"cik_str": ..., "ticker": ..., "title": ...}, ...}') from None
    if not out:
        raise _garbled(url, "no ticker in it")
    return out


def _day(text: object) -> date | None:
    try:
        return date.fromisoformat(str(text)[:10])
    except ValueError:
        return None


def _filings(columns: object, cik: int, company: str, url: str) -> tuple[Filing, ...]:
    """The filings of a columnar block (``filings.recent``, or an older page's top level)."""
    try:
        acc, form, filed = columns["accessionNumber"], columns["form"], columns["filingDate"]  # type: ignore[index]
        accepted = columns.get("acceptanceDateTime", [""] * len(acc))  # type: ignore[union-attr]
        items = columns.get("items", [""] * len(acc))  # type: ignore[union-attr]
        if not all(isinstance(c, list) and len(c) == len(acc) for c in (form, filed, accepted, items)):
            raise TypeError
        out = []
        for a, f, d, t, i in zip(acc, form, filed, accepted, items, strict=True):
            day = _day(d)
            if not ACCESSION.fullmatch(str(a)) or day is None:
                raise ValueError(a)
            out.append(Filing(cik, str(a), str(f), day, str(t or ""), split_items(i), company))
        return tuple(out)
    except (TypeError, KeyError, ValueError, AttributeError):
        raise _garbled(url, "expected the arrays accessionNumber, form, filingDate, acceptanceDateTime and items "
                            "of equal length") from None


def parse_submissions(text: str, url: str) -> Submissions:
    """A company's submissions file (``CIK##########.json``: ``filings.recent`` and the
    older pages of ``filings.files``)."""
    doc = _json(text, url)
    try:
        cik, company = int(doc["cik"]), str(doc.get("name") or "")  # type: ignore[index, union-attr]
        block = doc["filings"]  # type: ignore[index]
        pages = tuple((str(p["name"]), _day(p.get("filingFrom")), _day(p.get("filingTo"))) for p in block.get("files", []))
        if not all(re.fullmatch(r"CIK\d{10}-submissions-\d{3}\.json", name) for name, _, _ in pages):
            raise ValueError("page name")
        recent = block["recent"]
    except (TypeError, KeyError, ValueError, AttributeError):
        raise _garbled(url, 'expected {"cik": ..., "name": ..., "filings": {"recent": {...}, "files": [...]}}') from None
    return Submissions(cik, company, _filings(recent, cik, company, url), pages)


def parse_submissions_page(text: str, url: str, cik: int, company: str) -> tuple[Filing, ...]:
    """An older page of a submissions file (``CIK##########-submissions-001.json``: the
    arrays of ``filings.recent`` at its top level)."""
    return _filings(_json(text, url), cik, company, url)


def split_items(text: object) -> tuple[str, ...]:
    """``"2.02,9.01"`` → ``("2.02", "9.01")`` (empty for none)."""
    return tuple(dict.fromkeys(i.strip() for i in re.split(r"[,\s]+", str(text or "")) if i.strip()))


def parse_header(text: str, url: str) -> FilingHeader:
    """A filing's SEC header: the tag form of ``<accession>.hdr.sgml`` (``<TYPE>``,
    ``<ITEMS>``, ``<CONFORMED-NAME>``) or the text form of the full submission and of
    ``-index-headers.html`` (``CONFORMED SUBMISSION TYPE:``, ``ITEM INFORMATION:``,
    ``COMPANY CONFORMED NAME:``; HTML-escaped tags are read too).

    Raises
    ------
    DataUnavailableError
        Naming ``url``: no accession number, or no ``<ACCEPTANCE-DATETIME>`` that is a time.
    """
    text = text.replace("&lt;", "<").replace("&gt;", ">")

    def first(*patterns: str) -> str | None:
        for p in patterns:
            m = re.search(p, text, re.MULTILINE)
            if m:
                return m.group(1).strip()
        return None

    raw = first(r"<ACCEPTANCE-DATETIME>\s*(\d{14})\b")
    accession = first(r"^<ACCESSION-NUMBER>\s*(\S+)", r"^ACCESSION NUMBER:\s*(\S+)")
    if raw is None:
        raise _garbled(url, "no <ACCEPTANCE-DATETIME>YYYYMMDDhhmmss in the SEC header")
    if accession is None or not ACCESSION.fullmatch(accession):
        raise _garbled(url, "no accession number in the SEC header")
    accepted = acceptance_time(raw, url)
    items = re.findall(r"^<ITEMS>\s*(\S+)", text, re.MULTILINE)
    if not items:  # the text form names the items
        names = re.findall(r"^ITEM INFORMATION:\s*(.+?)\s*$", text, re.MULTILINE)
        items = [_NAME_TO_ITEM.get(re.sub(r"\W+", " ", n).strip().lower(), n) for n in names]
    form = first(r"^<TYPE>\s*(.+?)\s*$", r"^CONFORMED SUBMISSION TYPE:\s*(.+?)\s*$") or ""
    company = first(r"^<CONFORMED-NAME>\s*(.+?)\s*$", r"^\s*COMPANY CONFORMED NAME:\s*(.+?)\s*$") or ""
    return FilingHeader(accession, form, accepted, tuple(dict.fromkeys(items)), company)


def acceptance_time(raw: str, url: str = "") -> datetime:
    """``20251030160152`` (YYYYMMDDhhmmss, US/Eastern) → 2025-10-30 16:01:52-04:00."""
    try:
        return datetime.strptime(raw, "%Y%m%d%H%M%S").replace(tzinfo=EDGAR_TZ)
    except ValueError:
        raise _garbled(url, f"acceptance time {raw!r} is not YYYYMMDDhhmmss") from None


def json_clock(accepted_json: str, accepted: datetime) -> str:
    """Which clock the JSON's ``acceptanceDateTime`` was on, given the header's true time:
    ``"UTC"``, ``"New York"`` (a New York wall time marked ``Z``) or ``"other"``."""
    try:
        stamp = datetime.fromisoformat(accepted_json.replace("Z", "+00:00"))
    except ValueError:
        return "other"
    wall = stamp.replace(tzinfo=None)
    if stamp == accepted:
        return "UTC"
    if wall == accepted.replace(tzinfo=None):
        return "New York"
    return "other"


def accession_of(event: EventSpec) -> str | None:
    """The EDGAR accession number an event carries in its id or source (``0001018724-25-000123``),
    else None: how a filing already in a catalog is recognised, whatever its id."""
    for text in (event.source, event.id):
        m = ACCESSION.search(text)
        if m:
            return m.group(0)
    return None


def form_slug(form: str) -> str:
    """``8-K`` → ``8k``, ``8-K/A`` → ``8ka``, ``6-K`` → ``6k`` (for ids)."""
    return re.sub(r"[^a-z0-9]", "", form.lower()) or "filing"


def filing_id(ticker: str, form: str, accession: str) -> str:
    """``amzn-8k-0001018724-25-000123``: a safe file name (lowercase letters, digits, ``-``)."""
    stem = re.sub(r"[^a-z0-9]+", "-", ticker.lower()).strip("-")
    return f"{stem}-{form_slug(form)}-{accession}"


def filing_url(cik: int, accession: str, base: str = SEC_WWW) -> str:
    """The filing's folder on EDGAR (``<base>/Archives/edgar/data/<cik>/<accession digits>``)."""
    return f"{base}/Archives/edgar/data/{cik}/{accession.replace('-', '')}"


def header_url(cik: int, accession: str, base: str = SEC_WWW) -> str:
    """The filing's SEC header (``.../<accession>.hdr.sgml``)."""
    return f"{filing_url(cik, accession, base)}/{accession}.hdr.sgml"


def index_url(cik: int, accession: str) -> str:
    """The filing's index page on www.sec.gov (an event's ``source``)."""
    return f"{filing_url(cik, accession)}/{accession}-index.htm"


def item_group(form: str, items: Sequence[str]) -> str:
    """The group of a filing (see :data:`ITEM_GROUPS`); a form without items (6-K) is its own
    group (``6-k``), an item EDGAR adds later groups as ``item-<n>``."""
    known = [i for i in ITEM_GROUPS if i in items]
    if known:
        return ITEM_GROUPS[known[0]]
    if items:
        return "item-" + re.sub(r"[^0-9]+", "-", items[0]).strip("-")
    return re.sub(r"[^a-z0-9]+", "-", form.lower()).strip("-") or "filings"


def describe(form: str, items: Sequence[str], company: str) -> str:
    """``AMAZON COM INC 8-K (items 2.02, 9.01): Results of Operations and Financial Condition;
    Financial Statements and Exhibits`` (its first clause is what the answers name)."""
    head = " ".join(p for p in (company, form) if p)
    if not items:
        return head
    names = "; ".join(ITEM_NAMES.get(i, f"item {i}") for i in items)
    return f"{head} (item{'s' if len(items) > 1 else ''} {', '.join(items)}): {names}"


def wanted(filing: Filing, forms: Iterable[str], since: date | None, until: date | None) -> bool:
    """The filing is of one of ``forms`` (exact, upper case) and filed within ``[since, until]``."""
    return (filing.form.upper() in {f.upper() for f in forms}
            and (since is None or filing.filed >= since) and (until is None or filing.filed <= until))


def filing_events(
    filings: Sequence[tuple[Filing, FilingHeader]], tickers: Mapping[int, Sequence[str]], cal: SessionCalendar,
) -> tuple[EventSpec, ...]:
    """One event per filing (module docstring), timed from its header on ``cal`` in one pass.

    Parameters
    ----------
    filings
        Each filing with its header.
    tickers
        CIK → the tickers asked for it (usually one; GOOGL and GOOG share a CIK): the
        event's tickers, the first one in its id.
    cal
        The exchange calendar of the timing.
    """
    if not filings:
        return ()
    utc = pl.Series("announced_utc", [h.accepted.astimezone(timezone.utc) for _, h in filings], pl.Datetime("us", "UTC"))
    timings = stated_timing(utc.to_frame(), cal).to_list()
    events = []
    for (filing, header), timing in zip(filings, timings, strict=True):
        names = [check_ticker(t) for t in tickers[filing.cik]]
        items = header.items or filing.items
        form = header.form or filing.form
        events.append(EventSpec(
            id=filing_id(names[0], form, filing.accession), tickers=tuple(names), announced=header.accepted,
            timing=timing, group=item_group(form, items), description=describe(form, items, header.company or filing.company),
            source=index_url(filing.cik, filing.accession),
        ))
    return tuple(events)
