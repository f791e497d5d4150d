"""Factor and risk-free data: reading files, downloading the Kenneth French data library, and
finding the factor sets a study needs in the store.

Factor files (``market-reaction factors import FILE --name NAME``) are CSV text in either form:

* the Kenneth French download as published: free text lines, a blank line, a header whose
  first cell is empty (``,Mkt-RF,SMB,HML,RF``), rows keyed ``YYYYMMDD``, then a blank line and
  a copyright line (or an annual section) that are ignored;
* a plain CSV: ``date,mkt_rf,smb,hml,rf`` with ISO dates (``YYYY-MM-DD``).

Column names are lower-cased with runs of other characters turned into ``_`` (``Mkt-RF`` ->
``mkt_rf``, ``Mom   `` -> ``mom``). Values are in percent unless ``--units decimal``, and are
stored as decimals (1.23 -> 0.0123); an empty cell, French's missing codes ``-99.99`` and
``-999``, and FRED's ``.`` are missing values. Monthly or annual files are refused (the
models are daily). Every problem names the file, the data row and its line, and the field.

Risk-free rates (``market-reaction rates import FILE``) are FRED's DTB3 file
(``date,dtb3`` or ``observation_date,DTB3``: the 3-month T-bill discount yield in percent
per year, empty on holidays), converted to a per-session rate by
:func:`analysis.factors.tbill_daily_rate` and stored as a factor set with one column ``rf``.
"""

from __future__ import annotations

import io
import re
import urllib.request
import zipfile
from datetime import date
from pathlib import Path

import polars as pl

from analysis import schema as S
from analysis.errors import DataUnavailableError, InputError
from analysis.factors import study_factors, tbill_daily_rate
from analysis.specs import FACTOR_NAME_PATTERN, StudySpec, check_factor_set
from flows.io.calendars import exchange_calendar
from flows.io.importers import _LINE, _ROW, _raise_problems, _raw
from flows.params import FACTOR_UNITS as UNITS, Units
from flows.io.store import FactorStore

FRENCH_URL = "https://mba.tuck.dartmouth.edu/pages/faculty/ken.french/ftp/"
FRENCH_FILES = {
    "ff3": "F-F_Research_Data_Factors_daily_CSV.zip",
    "ff5": "F-F_Research_Data_5_Factors_2x3_daily_CSV.zip",
    "mom": "F-F_Momentum_Factor_daily_CSV.zip",
}
FRENCH_COLUMNS = {
    "ff3": (S.MKT_RF, "smb", "hml", S.RF),
    "ff5": (S.MKT_RF, "smb", "hml", "rmw", "cma", S.RF),
    "mom": ("mom",),
}
DATE_HEADERS = ("", "date", "observation_date")  # the first header cell of a factor or rate file
MISSING_VALUES = (-99.99, -999.0)  # Ken French's codes for a missing value
MAX_RATE = 50.0  # percent per year: a larger T-bill quote is a unit mistake
_TEXT = "__text"
_FIRST = "__first"
_CELLS = "__cells"
DAILY_DATE = r"^(\d{8}|\d{4}-\d{2}-\d{2})$"


def factor_name(header: str) -> str:
    """A header cell as a factor column name: ``Mkt-RF`` -> ``mkt_rf``, ``Mom   `` -> ``mom``."""
    return re.sub(r"[^a-z0-9]+", "_", header.strip().lower()).strip("_")


def read_text(path: Path) -> str:
    """The text of a CSV file, or an InputError naming it."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise InputError(f"cannot read the file ({error.strerror or error})", file=str(path)) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # the French files are ASCII; older copies may carry a © in latin-1


def parse_factor_text(text: str, file: str, units: Units = "percent", max_abs: float | None = None) -> pl.DataFrame:
    """Daily factor values from CSV text in the Ken French or the plain form (module docstring).

    Parameters
    ----------
    text
        The file's text.
    file
        The file (or address) to name in errors.
    units
        ``percent`` (divide by 100) or ``decimal``.
    max_abs
        Refuse values whose absolute value (in the file's units) exceeds this.

    Returns
    -------
    pl.DataFrame
        ``date`` (Date) + one Float64 column per factor, in decimals, sorted by date.
    """
    if units not in UNITS:
        raise InputError(f"expected one of {', '.join(UNITS)}, got {units!r}", field="units")
    lines = pl.DataFrame({_TEXT: text.splitlines()}, schema={_TEXT: pl.String}).with_row_index(_LINE, offset=1)
    lines = lines.with_columns(pl.col(_TEXT).str.extract(r"^\s*([^,]*?)\s*(?:,|$)").alias(_FIRST))
    starts_digit = pl.col(_FIRST).str.contains(r"^\d")
    header_at = lines.filter(
        pl.col(_FIRST).str.to_lowercase().is_in(DATE_HEADERS)
        & pl.col(_TEXT).str.contains(",")
        & pl.col(_TEXT).str.contains("[A-Za-z]")
        & starts_digit.shift(-1)
    )
    if header_at.is_empty():
        raise InputError(
            "no header found: expected a line such as ',Mkt-RF,SMB,HML,RF' (Ken French) or "
            "'date,mkt_rf,smb,hml,rf' followed by daily rows",
            file=file,
        )
    header_line = header_at[_LINE][0]
    names = [factor_name(c) for c in header_at[_TEXT][0].split(",")[1:]]
    for i, name in enumerate(names):
        if not FACTOR_NAME_PATTERN.match(name) or name == S.DATE or name in names[:i]:
            raise InputError(
                f"header column {i + 2} ({name!r}) is not a usable factor name: expected distinct names of "
                "letters, digits and '_' starting with a letter",
                file=file, row=0, line=header_line,
            )
    below = lines.filter(pl.col(_LINE) > header_line)
    ended = below.filter(~starts_digit & (pl.col(_TEXT).str.strip_chars() != ""))  # copyright, annual section...
    end = ended[_LINE][0] if ended.height else None
    if end is not None:
        stray = below.filter((pl.col(_LINE) > end) & pl.col(_FIRST).str.contains(DAILY_DATE))
        if stray.height:
            bad = ended.row(0, named=True)
            raise InputError(
                f"expected a date as YYYYMMDD or YYYY-MM-DD, got {bad[_FIRST]!r} (daily rows follow it, "
                f"e.g. on line {stray[_LINE][0]})",
                file=file, field=S.DATE, line=bad[_LINE],
                row=below.filter(starts_digit & (pl.col(_LINE) < end)).height + 1,
            )
        below = below.filter(pl.col(_LINE) < end)
    block = below.filter(starts_digit).with_row_index(_ROW, offset=1).with_columns(
        pl.col(_TEXT).str.split(",").alias(_CELLS)
    )
    if block.is_empty():
        raise InputError("no data rows below the header", file=file, line=header_line)
    k = len(names) + 1
    raw_date = pl.col(_raw(S.DATE))
    frame = block.with_columns(
        pl.col(_CELLS).list.get(0, null_on_oob=True).str.strip_chars().alias(_raw(S.DATE)),
        *(pl.col(_CELLS).list.get(i + 1, null_on_oob=True).str.strip_chars().alias(_raw(n)) for i, n in enumerate(names)),
    ).with_columns(
        pl.coalesce(
            pl.when(raw_date.str.contains(r"^\d{8}$")).then(raw_date.str.to_date("%Y%m%d", strict=False)),
            pl.when(raw_date.str.contains(r"^\d{4}-\d{2}-\d{2}$")).then(raw_date.str.to_date("%Y-%m-%d", strict=False)),
        ).alias(S.DATE),
        *(
            pl.when(~pl.col(_raw(n)).is_in(["", "."])).then(pl.col(_raw(n))).cast(pl.Float64, strict=False).alias(n)
            for n in names
        ),
    )
    given = lambda n: pl.col(_raw(n)).is_not_null() & ~pl.col(_raw(n)).is_in(["", "."])  # noqa: E731
    checks: list[tuple[str, pl.Expr, pl.Expr]] = [
        ("columns", pl.col(_CELLS).list.len() != k,
         pl.format(f"expected {k} comma-separated values like the header, got {{}}", pl.col(_CELLS).list.len())),
        (S.DATE, pl.col(_raw(S.DATE)).str.contains(r"^\d{6}$"),
         pl.format("{} is a month (YYYYMM): this is a monthly file; the models need the daily one", pl.col(_raw(S.DATE)))),
        (S.DATE, pl.col(S.DATE).is_null(), pl.format("expected a date as YYYYMMDD or YYYY-MM-DD, got '{}'", pl.col(_raw(S.DATE)))),
        (S.DATE, pl.col(S.DATE).is_not_null() & (pl.col(_ROW) > pl.col(_ROW).min().over(S.DATE)),
         pl.format("duplicate date {} (first on row {})", pl.col(S.DATE), pl.col(_ROW).min().over(S.DATE))),
    ]
    for n in names:
        checks.append((n, given(n) & ~pl.col(n).is_finite().fill_null(False),
                       pl.format("expected a number, got '{}'", pl.col(_raw(n)))))
        if max_abs is not None:
            checks.append((n, pl.col(n).abs() > max_abs,
                           pl.format(f"expected a value within ±{max_abs:g} ({units}), got '{{}}'", pl.col(_raw(n)))))
    _raise_problems(frame, file, checks)
    scale = 100.0 if units == "percent" else 1.0
    return frame.select(
        S.DATE,
        *(pl.when(~pl.col(n).is_in(MISSING_VALUES)).then(pl.col(n)).map_batches(_divider(scale), return_dtype=pl.Float64)
          .alias(n) for n in names),
    ).sort(S.DATE)


def _divider(scale: float):
    """``x / scale`` by IEEE division (NumPy), so 0.52 percent is the float nearest 0.0052;
    polars divides by a constant as a multiplication by its reciprocal (0.005200000000000001)."""
    def divide(s: pl.Series) -> pl.Series:
        return pl.Series(s.name, s.to_numpy() / scale, dtype=pl.Float64, nan_to_null=True)
    return divide


def read_factor_file(path: Path, units: Units = "percent") -> pl.DataFrame:
    """Read a factor file (see :func:`parse_factor_text`)."""
    return parse_factor_text(read_text(path), str(path), units)


def unit_notes(frame: pl.DataFrame, units: Units) -> list[str]:
    """Warnings for factor columns (``rf`` aside) whose daily standard deviation, in decimals,
    is implausible for daily factor returns: under 0.0005 (decimals read as percent: 100x too
    small) or over 0.5 (percent read as decimals)."""
    notes = []
    for name in frame.columns[1:]:
        if name == S.RF:
            continue
        sd = frame[name].std()
        if sd is None or sd != sd:
            continue
        if sd < 0.0005 and units == "percent":
            notes.append(f"{name}: daily standard deviation {sd:.2g} after dividing by 100: the file looks like "
                         "decimals read as percent; import it with --units decimal")
        elif sd > 0.5 and units == "decimal":
            notes.append(f"{name}: daily standard deviation {sd:.2g}: the file looks like percent read as decimals; "
                         "import it without --units decimal")
    return notes


def read_rates_file(path: Path) -> pl.DataFrame:
    """A T-bill rate file (``date`` + one column of quotes in percent per year) as
    ``date, dtb3`` (percent; null on holidays)."""
    frame = parse_factor_text(read_text(path), str(path), "decimal", max_abs=MAX_RATE)
    if frame.width != 2:
        raise InputError(
            f"expected a date column and one rate column (such as date,dtb3), got {', '.join(frame.columns[1:])}",
            file=str(path),
        )
    return frame.rename({frame.columns[1]: "dtb3"})


def tbill_factor_set(quotes: pl.DataFrame) -> pl.DataFrame:
    """``date, rf``: the per-session risk-free rate of the XNYS sessions the quotes cover."""
    return tbill_daily_rate(quotes, exchange_calendar("XNYS"))


# --- the Kenneth French data library --------------------------------------------------------


def _download(url: str, timeout: float) -> bytes:
    """The body of ``url`` (the one place this module touches the network)."""
    request = urllib.request.Request(url, headers={"User-Agent": "market-reaction"})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (a fixed https address)
        return response.read()


def fetch_french(name: str, timeout: float = 60.0) -> tuple[pl.DataFrame, str]:
    """Download and read the daily file of ``ff3``, ``ff5`` or ``mom`` from the Kenneth
    French data library.

    Returns
    -------
    (pl.DataFrame, str)
        The set (``date`` + the columns of :data:`FRENCH_COLUMNS`, decimals) and its address.

    Raises
    ------
    DataUnavailableError
        Offline, a timeout, an HTTP error or an unexpected file; the message says how to
        import a downloaded file instead.
    """
    if name not in FRENCH_FILES:
        raise InputError(f"expected one of {', '.join(FRENCH_FILES)}, got {name!r}", field="name")
    url = FRENCH_URL + FRENCH_FILES[name]
    instead = (f"download {url} elsewhere, unzip it and run "
               f"`market-reaction factors import FILE --name {name}`")
    try:
        data = _download(url, timeout)
    except OSError as error:  # URLError, HTTPError and socket timeouts are OSErrors
        reason = getattr(error, "reason", None) or error
        raise DataUnavailableError(f"cannot download the {name} factors from {url} ({reason}); {instead}") from None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            member = next(m for m in archive.namelist() if m.lower().endswith(".csv"))
            text = archive.read(member).decode("latin-1")
    except (zipfile.BadZipFile, StopIteration):
        raise DataUnavailableError(f"{url} did not answer with a zip of a CSV file; {instead}") from None
    try:
        frame = parse_factor_text(text, f"{url} ({member})", "percent")
    except InputError as error:
        raise DataUnavailableError(f"the {name} file from the French library cannot be read: {error}; {instead}") from None
    missing = [c for c in FRENCH_COLUMNS[name] if c not in frame.columns]
    if missing:
        raise DataUnavailableError(
            f"the {name} file from {url} has no column {', '.join(missing)} (it has {', '.join(frame.columns[1:])})"
        )
    return frame.select(S.DATE, *FRENCH_COLUMNS[name]), url


# --- the sets a study needs ------------------------------------------------------------------


def how_to_get(name: str) -> str:
    """The command(s) that put factor set ``name`` into the store."""
    if name in FRENCH_FILES:
        return (f"`market-reaction factors fetch {name}` (downloads the Kenneth French daily file) or "
                f"`market-reaction factors import FILE --name {name}`")
    return f"`market-reaction factors import FILE --name {name}` (or `market-reaction rates import FILE --name {name}`)"


def load_factor_sets(store: FactorStore, spec: StudySpec) -> dict[str, pl.DataFrame]:
    """The stored factor sets ``spec`` reads, checked to hold the needed columns.

    Raises
    ------
    DataUnavailableError
        A set is not in the store; the message says how to fetch or import it.
    InputError
        A set lacks a column the model needs.
    """
    sets = {name: store.read(name) for name in spec.factor_sets}
    missing = [name for name, frame in sets.items() if frame is None]
    if missing:
        raise DataUnavailableError(
            f"the {spec.model} model needs the factor set{'s' if len(missing) > 1 else ''} {', '.join(missing)}, "
            f"which {'are' if len(missing) > 1 else 'is'} not in the store ({store.root}); get "
            + "; ".join(f"{n} with {how_to_get(n)}" for n in missing)
        )
    study_factors(sets, spec)  # every needed column is there
    return sets  # type: ignore[return-value]


def coverage_notes(sets: dict[str, pl.DataFrame], start: date, end: date) -> list[str]:
    """Warnings for sets whose dates do not span ``start .. end`` (the study's price range)."""
    notes = []
    for name, frame in sets.items():
        first, last = frame[S.DATE].min(), frame[S.DATE].max()
        if first is None or first > start or last < end:
            notes.append(f"factor set {name} covers {first}..{last} but the study needs {start}..{end}: "
                         f"days without factor data are left out; refresh it with {how_to_get(name)}")
    return notes


def check_set_name(name: str) -> str:
    """``--name`` of an import: a safe file name."""
    return check_factor_set(name, field="--name")

