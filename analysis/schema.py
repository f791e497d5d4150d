"""Column names: the one place they are spelled.

Every frame that crosses a module boundary uses these constants; no module addresses
columns by position or by a literal string. The output contract of DESIGN.md is built
from them (see ``AR_COLUMNS``, ``MODEL_COLUMNS``, ``CAR_COLUMNS``, ``TEST_COLUMNS``).
"""

from __future__ import annotations

# --- identifiers -------------------------------------------------------------------
EVENT_ID = "event_id"
TICKER = "ticker"
BENCHMARK = "benchmark"
GROUP = "group"
ROLE = "role"  # "primary" (the event's own tickers) or "related" (spillover tickers)
DATE = "date"

# --- prices (store, sources, imports) ----------------------------------------------
OPEN = "open"
HIGH = "high"
LOW = "low"
CLOSE = "close"
ADJ_CLOSE = "adj_close"
VOLUME = "volume"
LOG_VOLUME = "log_volume"  # ln(1 + volume), the variable of the abnormal-volume model
PRICE_COLUMNS = (DATE, OPEN, HIGH, LOW, CLOSE, ADJ_CLOSE, VOLUME)

# --- shares outstanding ----------------------------------------------------------
SHARES = "shares_outstanding"
AS_OF_DATE = "as_of_date"

# --- calendar / event time ---------------------------------------------------------
SESSION = "session"  # integer index of a trading session on the exchange calendar
ANNOUNCED = "announced"  # ISO text of the announcement, as given
TIMING = "timing"
DAY0 = "day0"
DAY0_SESSION = "day0_session"
DAY0_RULE = "day0_rule"
EVENT_DAY = "event_day"  # tau, sessions relative to day 0

# --- returns panel -----------------------------------------------------------------
RET = "ret"
BENCHMARK_RET = "benchmark_ret"
NORMAL_RET = "normal_ret"
ABNORMAL_RET = "abnormal_ret"
CUM_ABNORMAL_RET = "cum_abnormal_ret"
AR_VAR = "ar_var"  # prediction-error variance of the AR (MacKinlay 1997)
AR_SE = "ar_se"
AR_T = "ar_t"
AR_P = "ar_p"
ABNORMAL_VOLUME = "abnormal_volume"  # ln(1 + V) minus its estimation mean (a window: the mean over its days)
ABNORMAL_VOLUME_T = "abnormal_volume_t"
IN_ESTIMATION = "in_estimation"  # the day lies in the estimation window (its AR is a residual)

# --- models ------------------------------------------------------------------------
MODEL = "model"
ALPHA = "alpha"
BETA = "beta"
SIGMA = "sigma"
R_SQUARED = "r_squared"
N_OBS = "n_obs"
DF_RESID = "df_resid"
ESTIMATION_START = "estimation_start"
ESTIMATION_END = "estimation_end"
MKT_MEAN = "mkt_mean"  # mean benchmark return over the estimation window
MKT_SXX = "mkt_sxx"  # sum of squared demeaned benchmark returns over the estimation window
REASON = "reason"  # why a statistic is null
LOG_VOLUME_MEAN = "log_volume_mean"  # mean of ln(1 + volume) over the estimation window
LOG_VOLUME_SD = "log_volume_sd"  # its standard deviation (T - 1 degrees of freedom)
VOLUME_N_OBS = "volume_n_obs"  # estimation days with a volume
VOLUME_REASON = "volume_reason"  # why the abnormal volume is null

# --- factors -----------------------------------------------------------------------
MKT_RF = "mkt_rf"  # the market factor of a factor set (Fama-French: market minus risk-free)
RF = "rf"  # the risk-free rate per session (decimal) of a factor set
FACTOR_PREFIX = "factor_"  # panel columns holding factor values: factor_<name>
LOADING_PREFIX = "beta_"  # models columns holding the loading of a factor other than the market: beta_<name>


def factor_column(name: str) -> str:
    """Panel column holding the values of factor ``name`` (``factor_smb``; ``factor_rf``)."""
    return FACTOR_PREFIX + name


def loading_column(name: str) -> str:
    """Models column holding the loading on factor ``name``: ``beta`` for the market factor
    ``mkt_rf``, ``beta_<name>`` for any other (``beta_smb``, ``beta_hml``, ``beta_mom``...)."""
    return BETA if name == MKT_RF else LOADING_PREFIX + name


# --- price-data checks (analysis.quality) -------------------------------------------
CHECK = "check"  # which check found something: off-calendar, bad-price, gap, jump, split-like
RATIO = "ratio"  # the price ratio of a jump between consecutive rows
DETAIL = "detail"  # the finding in words: its date, and the ratio or the bad values

# --- windows -----------------------------------------------------------------------
WINDOW_START = "window_start"
WINDOW_END = "window_end"
N_DAYS = "n_days"  # event days with an abnormal return inside the window
CAR = "car"
CAR_SE = "car_se"
T_STAT = "t_stat"
P_VALUE = "p_value"
BHAR = "bhar"
RAW_RETURN = "raw_return"
MARKET_CAP = "market_cap"  # shares outstanding x close of day -1
DOLLAR_ABNORMAL = "dollar_abnormal"  # CAR x market cap
DOLLAR_RAW = "dollar_raw"  # raw return over the window x market cap

# --- group tests -------------------------------------------------------------------
TEST = "test"
STATISTIC = "statistic"
N_EVENTS = "n_events"
MEAN = "mean"  # the averaged quantity a test is about (AAR or CAAR)

# --- output contract (DESIGN.md); extra columns may follow these ----------------------
AR_COLUMNS = (
    EVENT_ID, TICKER, DATE, EVENT_DAY, RET, BENCHMARK_RET, NORMAL_RET, ABNORMAL_RET, CUM_ABNORMAL_RET,
)
MODEL_COLUMNS = (
    EVENT_ID, TICKER, MODEL, ALPHA, BETA, SIGMA, R_SQUARED, N_OBS, ESTIMATION_START, ESTIMATION_END,
)
CAR_COLUMNS = (
    EVENT_ID, TICKER, WINDOW_START, WINDOW_END, CAR, CAR_SE, T_STAT, P_VALUE, BHAR, DOLLAR_ABNORMAL,
)
TEST_COLUMNS = (GROUP, WINDOW_START, WINDOW_END, TEST, STATISTIC, P_VALUE, N_EVENTS)

# --- confounding events and estimation outliers (analysis.confounders) ------------------
CONFOUNDER_ID = "confounder_id"  # another catalog event on the same ticker
CONFOUNDER_ROLE = "confounder_role"  # the ticker's role in that event (primary / related)
CONFOUNDER_DAY0 = "confounder_day0"
OFFSET = "offset"  # the confounder's day 0 in this event's time (sessions; -1 = day -1)
LOCATION = "location"  # event window / between the windows / estimation window / before the estimation window
WINDOWS = "windows"  # labels of the event windows holding the confounder's day 0, e.g. "[-1,+1], [-5,+5]"
CONTAMINATED_DAYS = "contaminated_days"  # the confounder's event-window days inside this estimation window
IN_STUDY = "in_study"  # the confounder is an event of the same study (its own AR is measured)
DISCOVERED = "discovered"  # the confounder is an SEC filing found by `events discover` (from the store), not a catalog event
N_CONFOUNDERS = "n_confounders"
N_DROPPED = "n_dropped"  # estimation days dropped as contaminated (drop_confounded)
STD_RESID = "std_resid"  # estimation residual / sigma
N_OUTLIERS = "n_outliers"
OUTLIER_DATES = "outlier_dates"  # "2025-08-01 (-4.4σ); ..." (text, one cell)

# --- headline claims (analysis.claims) ---------------------------------------------------
CLAIM = "claim"  # the statement as the catalog gives it
CLAIM_KIND = "claim_kind"  # record / value_change / valuation / pct_change / unknown
VERDICT = "verdict"  # consistent / inconsistent / cannot tell
WHY = "why"
AT_CLOSE = "at_close"  # what the data say at the close of day 0, with the arithmetic
AT_INTRADAY = "at_intraday"  # ... at the intraday extreme (high / low) of day 0

# --- earnings calendars (flows.io.yahoo.fetch_earnings, analysis.earnings) ---------------
EARNINGS_AT = "earnings_at"  # Yahoo's earnings date and time (aware, Yahoo's zone; midnight = no time given)
EARNINGS_NAME = "earnings_name"  # Yahoo's "Event Name", e.g. "Q3 2025 Earnings Release" (null if absent)
EPS_ESTIMATE = "eps_estimate"
EPS_REPORTED = "eps_reported"
EPS_SURPRISE_PCT = "eps_surprise_pct"  # (reported - estimate) / |estimate|, in percent, as Yahoo gives it
UPCOMING = "upcoming"  # day 0 has not closed yet: Yahoo's date is an estimate
CALENDAR_PREFIX = "calendar_"  # the calendar entry's side of a day-0 cross-check (calendar_announced, ...)
FILING_PREFIX = "filing_"  # the other source's side (an 8-K item 2.02 filing, a curated catalog event)
SESSIONS_APART = "sessions_apart"  # filing's day 0 minus the calendar's, in sessions
FINDING = "finding"  # a sentence; null when the two day 0s agree
