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
