"""The bench's baseline: the same metrics and decisions as one hand-written DuckDB SQL pass over the landing files.

`vip-pipeline bench` runs it on the files the full scenario read and reports pipeline wall ÷ baseline wall
(absolute times on shared machines drift; the ratio does not). It is what a data engineer would write by hand
without the pipeline: DuckDB (2 threads) reads every file once (the month in progress's files once more, for its
period end) and computes the whole history in a few SQL statements, each a chain of named CTEs.

What it computes, with the pipeline's rules (SPEC §1–2; `metrics/`, `decisions/`):
- per account and month (`monthly_account_activity`): the day grid of the period with the end-of-day balance
  carried forward (ASOF join, 0 before the first balance, before `opened_on` and after `closed_on`), the
  in-progress month ending at its latest booking or balance day, ADB and ADB in USD at each day's rate, the FX
  rate as of a day (latest ≤ the day, at most 7 days old, USD 1), closing balance, credit/debit turnover in
  account currency and USD, txn count, fee/interest flows and the modelled margin (funding value, servicing);
- per client and month (`monthly_client_metrics`): turnover, settlement turnover (credits on current accounts,
  no interest, no transfers from the client's own accounts), exports, ADB of non-credit and of credit products,
  products used, revenue, cost, margin;
- per active client and complete as-of month (`client_segments`: the columns of the pipeline's client_ltv,
  vip_assessment and client_segments in one table): first month, tenure, running revenue, cost
  and LTV, average monthly margin, mean and CV of the margin over the last 12 months, LTV rank, pyramid tier
  (top 20 % of LTV ≥ 0 by ceil, stable, workhorse, ballast), the five VIP measures and criteria, eligibility,
  economic group eligibility, service category, recommended action, previous category and tier;
- `group_assessment` (groups with ≥ 2 active members, assessed like one client) and `segment_migrations`.

What it leaves out, on purpose (the pipeline does it, a single SQL pass does not):
- validation and quarantine: no contract rule is checked and nothing is rejected. A Parquet text cell that does
  not cast (such as "12,5x") is NULL and its row is left out; a CSV value that does not parse fails the pass;
  every other row counts as it comes (a negative amount, a duplicated txn_id, a booking outside its file's
  month); a transaction on an unknown account drops out at the join with the accounts;
- re-deliveries: rows are not de-duplicated by key across files (the newest delivery does not replace older
  ones); `clients` and `accounts` are read from their latest snapshot file as the pipeline does;
- `client_pnl` overrides of the modelled margin (the generator writes none; the pass reads no such file);
- checks, a missing FX rate as an error (it leaves the USD amount NULL), staging, publishing, Dagster.
So on files with bad rows (bench's bank-M) its figures differ from the pipeline's by those rows; on clean files
(`generate-sample --no-bad-rows`) they are the pipeline's, which `vip_pipeline_tests/test_baseline.py` asserts.
Floating-point sums are plain SQL sums (the pipeline's running sums carry a Kahan compensation), so they agree
with the pipeline's closely but not to the last bit; the test compares them at 1e-6 relative.

`python -m vip_pipeline.baseline --landing DIR [--out DIR]` runs it alone (the bench runs it so, in its own
process, to measure its peak RSS); `--out` writes the result tables (TABLES) as Parquet, and it prints its
seconds and rows per table as JSON.
"""

from __future__ import annotations

import argparse
import calendar
import json
import re
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

from vip_pipeline.decisions.rules import DecisionRules
from vip_pipeline.metrics import TXN_COLUMNS

# The modelled margin's defaults (metrics.margin.MarginRules) and the credit products (contracts.extracts),
# restated so that this process does not import pandas and pandera; test_baseline.py asserts they agree.
MARGIN = {"ftp_rate": 0.03, "cost_per_account_month": 20.0, "cost_per_transaction": 0.10}
CREDIT_PRODUCTS = ("loan", "overdraft", "credit_line", "leasing")
MAX_FX_AGE_DAYS = 7
THREADS = 2

TABLES = (
    "monthly_account_activity",
    "monthly_client_metrics",
    "client_segments",
    "group_assessment",
    "segment_migrations",
)

# ----------------------------------------------------------------------------------------------- the files
# SPEC §3 naming: <extract>_<YYYY-MM-DD>.<ext> (a day) or <extract>_<YYYY-MM>.<ext> (a month)
FILE_NAME = re.compile(
    r"^(?P<extract>clients|accounts|transactions|balances|fx_rates|client_pnl)"
    r"_(?P<period>\d{4}-\d{2}(?:-\d{2})?)\.(?P<ext>csv|csv\.gz|parquet)$"
)
MONTHLY_EXTRACTS = ("transactions", "balances", "client_pnl")

# Column types of the extracts as DuckDB reads them; `KEEP` are the columns the pass uses.
TYPES = {
    "clients": {
        "client_id": "VARCHAR",
        "name": "VARCHAR",
        "client_type": "VARCHAR",
        "related_party": "VARCHAR",
        "industry": "VARCHAR",
        "region": "VARCHAR",
        "onboarded_on": "DATE",
        "offboarded_on": "DATE",
        "annual_sales_usd": "DOUBLE",
        "monopoly_position": "BOOLEAN",
        "strategic": "BOOLEAN",
        "service_model": "VARCHAR",
        "group_id": "VARCHAR",
    },
    "accounts": {
        "account_id": "VARCHAR",
        "client_id": "VARCHAR",
        "product": "VARCHAR",
        "currency": "VARCHAR",
        "opened_on": "DATE",
        "closed_on": "DATE",
    },
    "transactions": {
        "txn_id": "VARCHAR",
        "account_id": "VARCHAR",
        "booking_date": "DATE",
        "amount": "DOUBLE",
        "direction": "VARCHAR",
        "txn_type": "VARCHAR",
        "counterparty_account_id": "VARCHAR",
        "counterparty_country": "VARCHAR",
        "purpose": "VARCHAR",
    },
    "balances": {"account_id": "VARCHAR", "balance_date": "DATE", "balance": "DOUBLE"},
    "fx_rates": {"rate_date": "DATE", "currency": "VARCHAR", "usd_per_unit": "DOUBLE"},
}
KEEP = {"transactions": list(TXN_COLUMNS)}
REQUIRED = ("account_id", "balance_date", "balance", "booking_date", "amount", "rate_date", "usd_per_unit")


@dataclass(frozen=True, order=True)
class Landed:
    """One landing file: its period (a day or a month), name, extract and format."""

    start: date
    end: date
    name: str
    extract: str
    ext: str
    path: Path


def _month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def landed_files(landing: Path) -> list[Landed]:
    """The landing directory's files that follow the naming, sorted by period and name (as the pipeline does)."""
    files = []
    for path in sorted(Path(landing).iterdir()):
        m = FILE_NAME.match(path.name)
        if path.name.startswith(".") or not path.is_file() or not m:
            continue
        parts = [int(p) for p in m["period"].split("-")]
        start = date(*parts) if len(parts) == 3 else date(parts[0], parts[1], 1)
        end = start if len(parts) == 3 else _month_end(start)
        files.append(Landed(start, end, path.name, m["extract"], m["ext"], path))
    return sorted(files)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _read(extract: str, files: list[Landed]) -> str:
    """A SELECT of the extract's typed columns from its files: CSV read typed by DuckDB, Parquet (text, as the
    generator writes it) cast with TRY_CAST; a row whose key, day or amount did not cast is left out."""
    types = TYPES[extract]
    keep = KEEP.get(extract, list(types))
    parts = []
    csv = [f for f in files if f.ext != "parquet"]
    parquet = [f for f in files if f.ext == "parquet"]
    if csv:
        columns = "{" + ", ".join(f"{_quote(c)}: {_quote(t)}" for c, t in types.items()) + "}"
        paths = "[" + ", ".join(_quote(str(f.path)) for f in csv) + "]"
        parts.append(
            f"SELECT {', '.join(keep)} FROM read_csv({paths}, header = true, delim = ',', quote = '\"', "
            f"escape = '\"', columns = {columns}, auto_detect = false)"
        )
    if parquet:
        paths = "[" + ", ".join(_quote(str(f.path)) for f in parquet) + "]"
        casts = ", ".join(f"TRY_CAST({c} AS {types[c]}) AS {c}" for c in keep)
        parts.append(f"SELECT {casts} FROM read_parquet({paths}, union_by_name = true)")
    if not parts:
        return "SELECT " + ", ".join(f"NULL::{types[c]} AS {c}" for c in keep) + " WHERE false"
    where = " AND ".join(f"{c} IS NOT NULL" for c in keep if c in REQUIRED) or "true"
    return f"SELECT * FROM ({' UNION ALL '.join(parts)}) WHERE {where}"


# ----------------------------------------------------------------------------------------------- the SQL
# {placeholders} are the rules' numbers (MARGIN, DecisionRules), inlined before DuckDB reads the text.

# the products, scale and growth criteria and their count, on clients and on groups alike (the pipeline reuses
# vip.vip_criteria for groups); monopoly_met and strategic_met come before, from the caller's own columns
CRITERIA = """           products_used >= {{min_products}} AS products_met,
           (round(coalesce(annual_sales_usd, 0), 9) > {{annual_sales_usd}}
            OR round(avg_monthly_settlement_turnover_usd, 9) > {{avg_monthly_settlement_turnover_usd}}
            OR round(export_12m_usd, 9) > {{export_12m_usd}}
            OR round(adb_usd, 9) > {{adb_usd}}) AS scale_met,
           coalesce(round(turnover_growth, 9) >= {{min_turnover_growth}}, false) AS growth_met
    FROM {measures}
),
criteria_counted AS (
    SELECT *,
           products_met::INTEGER + scale_met::INTEGER + monopoly_met::INTEGER + strategic_met::INTEGER
               + growth_met::INTEGER AS criteria_met
    FROM {criteria}
)"""

METRICS = [
    """
-- every day of every period, and the rate of each account currency on it:
-- the latest rate on or before the day, at most {max_fx_age_days} days old; USD is 1
CREATE TEMP TABLE period_days AS
SELECT month, period_end, is_complete, (period_end - month + 1)::INTEGER AS days_in_period,
       unnest(generate_series(month, period_end, INTERVAL 1 DAY))::DATE AS day
FROM landed_months
""",
    """
CREATE TEMP TABLE fx_as_of AS
SELECT c.currency, d.day,
       CASE WHEN c.currency = 'USD' THEN 1.0
            WHEN d.day - r.rate_date <= {max_fx_age_days} THEN r.usd_per_unit END AS usd_per_unit
FROM (SELECT DISTINCT currency FROM accounts) c
CROSS JOIN (SELECT DISTINCT day FROM period_days) d
ASOF LEFT JOIN fx_rates r ON r.currency = c.currency AND d.day >= r.rate_date
""",
    """
-- turnover of every account and month: by direction, fees, interest, settlement turnover and exports
CREATE TEMP TABLE account_turnover AS
WITH
postings AS (  -- in USD at the booking day's rate; an own transfer comes from another account of the client
    SELECT t.account_id, a.client_id, a.product, date_trunc('month', t.booking_date)::DATE AS month,
           t.direction = 'C' AS is_credit, t.txn_type, t.purpose, t.amount,
           t.amount * fx.usd_per_unit AS amount_usd,
           coalesce(counterparty.client_id = a.client_id, false) AS own_transfer
    FROM transactions t
    JOIN accounts a ON a.account_id = t.account_id
    LEFT JOIN fx_as_of fx ON fx.currency = a.currency AND fx.day = t.booking_date
    LEFT JOIN accounts counterparty ON counterparty.account_id = t.counterparty_account_id
)
SELECT account_id, month, any_value(client_id) AS client_id,
       coalesce(sum(amount) FILTER (WHERE is_credit), 0.0) AS credit_turnover,
       coalesce(sum(amount_usd) FILTER (WHERE is_credit), 0.0) AS credit_turnover_usd,
       coalesce(sum(amount) FILTER (WHERE NOT is_credit), 0.0) AS debit_turnover,
       coalesce(sum(amount_usd) FILTER (WHERE NOT is_credit), 0.0) AS debit_turnover_usd,
       count(*) AS txn_count,
       coalesce(sum(amount_usd) FILTER (WHERE NOT is_credit AND txn_type = 'fee'), 0.0) AS fee_income_usd,
       coalesce(sum(amount_usd) FILTER (WHERE NOT is_credit AND txn_type = 'interest'), 0.0) AS interest_income_usd,
       coalesce(sum(amount_usd) FILTER (WHERE is_credit AND txn_type = 'interest'), 0.0) AS interest_expense_usd,
       coalesce(sum(amount_usd) FILTER (
           WHERE is_credit AND product = 'current' AND txn_type IS DISTINCT FROM 'interest' AND NOT own_transfer
       ), 0.0) AS settlement_turnover_usd,
       coalesce(sum(amount_usd) FILTER (WHERE is_credit AND purpose = 'export'), 0.0) AS export_usd
FROM postings
GROUP BY account_id, month
""",
    """
CREATE TABLE monthly_account_activity AS
WITH
open_account_days AS (  -- every day an account is open in a period
    SELECT a.account_id, a.client_id, a.product, a.currency, d.month, d.period_end, d.is_complete,
           d.days_in_period, d.day
    FROM accounts a
    JOIN period_days d ON d.day >= a.opened_on AND (a.closed_on IS NULL OR d.day <= a.closed_on)
),
end_of_day_balances AS (  -- the latest balance row on or before the day, carried forward; 0 before the first
    SELECT o.*, coalesce(b.balance, 0.0) AS balance
    FROM open_account_days o
    ASOF LEFT JOIN balances b ON b.account_id = o.account_id AND o.day >= b.balance_date
),
average_daily_balances AS (  -- days the account is not open count as 0
    SELECT e.account_id, e.month,
           any_value(e.client_id) AS client_id, any_value(e.product) AS product,
           any_value(e.currency) AS currency, any_value(e.period_end) AS period_end,
           any_value(e.days_in_period) AS days_in_period, any_value(e.is_complete) AS is_complete_month,
           coalesce(max(e.balance) FILTER (WHERE e.day = e.period_end), 0.0) AS closing_balance,
           sum(e.balance) / any_value(e.days_in_period) AS adb,
           sum(e.balance * fx.usd_per_unit) / any_value(e.days_in_period) AS adb_usd
    FROM end_of_day_balances e
    JOIN fx_as_of fx ON fx.currency = e.currency AND fx.day = e.day
    GROUP BY e.account_id, e.month
),
account_months AS (
    SELECT b.*,
           coalesce(t.credit_turnover, 0.0) AS credit_turnover,
           coalesce(t.credit_turnover_usd, 0.0) AS credit_turnover_usd,
           coalesce(t.debit_turnover, 0.0) AS debit_turnover,
           coalesce(t.debit_turnover_usd, 0.0) AS debit_turnover_usd,
           coalesce(t.txn_count, 0) AS txn_count,
           coalesce(t.fee_income_usd, 0.0) AS fee_income_usd,
           coalesce(t.interest_income_usd, 0.0) AS interest_income_usd,
           coalesce(t.interest_expense_usd, 0.0) AS interest_expense_usd,
           b.adb_usd * {ftp_rate} * b.days_in_period / 365.0 AS funding_value_usd,
           {cost_per_account_month} + {cost_per_transaction} * coalesce(t.txn_count, 0) AS servicing_cost_usd
    FROM average_daily_balances b
    LEFT JOIN account_turnover t ON t.account_id = b.account_id AND t.month = b.month
),
margins AS (  -- funding value earns on funds kept and costs on credit balances
    SELECT *,
           fee_income_usd + interest_income_usd + greatest(funding_value_usd, 0.0) AS revenue_usd,
           interest_expense_usd + greatest(-funding_value_usd, 0.0) + servicing_cost_usd AS cost_usd
    FROM account_months
)
SELECT *, revenue_usd - cost_usd AS margin_usd FROM margins
""",
    """
CREATE TABLE monthly_client_metrics AS
WITH
client_flows AS (  -- settlement turnover and exports of all the client's accounts' postings in the month
    SELECT client_id, month, sum(settlement_turnover_usd) AS settlement_turnover_usd, sum(export_usd) AS export_usd
    FROM account_turnover
    GROUP BY client_id, month
),
client_months AS (
    SELECT client_id, month, any_value(is_complete_month) AS is_complete_month,
           sum(credit_turnover_usd) AS credit_turnover_usd,
           sum(debit_turnover_usd) AS debit_turnover_usd,
           coalesce(sum(adb_usd) FILTER (WHERE product NOT IN ({credit_products})), 0.0) AS adb_usd,
           coalesce(sum(adb_usd) FILTER (WHERE product IN ({credit_products})), 0.0) AS credit_adb_usd,
           count(DISTINCT product) AS products_used,
           sum(txn_count) AS txn_count,
           sum(revenue_usd) AS revenue_usd,
           sum(cost_usd) AS cost_usd
    FROM monthly_account_activity
    GROUP BY client_id, month
)
SELECT c.*, coalesce(f.settlement_turnover_usd, 0.0) AS settlement_turnover_usd,
       coalesce(f.export_usd, 0.0) AS export_usd, c.revenue_usd - c.cost_usd AS margin_usd
FROM client_months c
LEFT JOIN client_flows f ON f.client_id = c.client_id AND f.month = c.month
""",
]

DECISIONS = [
    """
CREATE TABLE client_decisions AS
WITH
history_months AS (
    SELECT unnest(generate_series(min(month), max(month), INTERVAL 1 MONTH))::DATE AS month FROM landed_months
),
as_of_months AS (  -- the complete months, each with the previous complete month
    SELECT month AS as_of_month, lag(month) OVER (ORDER BY month) AS previous_month
    FROM landed_months WHERE is_complete
),
first_months AS (
    SELECT client_id, min(month) AS first_month FROM monthly_client_metrics GROUP BY client_id
),
client_panel AS (  -- one row per client and month from its first month on; 0 in a month without activity
    SELECT f.client_id, h.month, f.first_month,
           datediff('month', f.first_month, h.month) + 1 AS tenure_months,
           coalesce(m.revenue_usd, 0.0) AS revenue_usd, coalesce(m.cost_usd, 0.0) AS cost_usd,
           coalesce(m.margin_usd, 0.0) AS margin_usd,
           coalesce(m.settlement_turnover_usd, 0.0) AS settlement_turnover_usd,
           coalesce(m.export_usd, 0.0) AS export_usd, coalesce(m.adb_usd, 0.0) AS adb_usd,
           coalesce(m.products_used, 0) AS products_used
    FROM first_months f
    JOIN history_months h ON h.month >= f.first_month
    LEFT JOIN monthly_client_metrics m ON m.client_id = f.client_id AND m.month = h.month
),
client_history AS (  -- lifetime sums and trailing windows (the panel is dense: n rows back = n months back)
    SELECT *,
           sum(revenue_usd) OVER lifetime AS revenue_cum_usd,
           sum(cost_usd) OVER lifetime AS cost_cum_usd,
           sum(margin_usd) OVER lifetime AS ltv_usd,
           sum(margin_usd) OVER stability_window AS margin_12m_usd,
           sum(margin_usd * margin_usd) OVER stability_window AS margin_sq_12m,
           sum(settlement_turnover_usd) OVER turnover_window AS settlement_12m_usd,
           coalesce(sum(settlement_turnover_usd) OVER earlier_turnover_window, 0.0) AS settlement_prev_12m_usd,
           sum(export_usd) OVER turnover_window AS export_12m_usd,
           least(tenure_months, {stability_window_months}) AS stability_months,
           least(tenure_months, {turnover_window_months}) AS turnover_months
    FROM client_panel
    WINDOW lifetime AS (PARTITION BY client_id ORDER BY month ROWS UNBOUNDED PRECEDING),
           stability_window AS (PARTITION BY client_id ORDER BY month
                                ROWS BETWEEN {stability_rows} PRECEDING AND CURRENT ROW),
           turnover_window AS (PARTITION BY client_id ORDER BY month
                               ROWS BETWEEN {turnover_rows} PRECEDING AND CURRENT ROW),
           earlier_turnover_window AS (PARTITION BY client_id ORDER BY month
                                       ROWS BETWEEN {earlier_turnover_rows} PRECEDING
                                                AND {turnover_window_months} PRECEDING)
),
client_means AS (
    SELECT *, margin_12m_usd / stability_months AS margin_mean_12m_usd
    FROM client_history
),
client_measures AS (  -- population std and the VIP measures
    SELECT *,
           sqrt(greatest(margin_sq_12m / stability_months - margin_mean_12m_usd * margin_mean_12m_usd, 0.0))
               AS margin_std_12m_usd,
           settlement_12m_usd / turnover_months AS avg_monthly_settlement_turnover_usd,
           CASE WHEN tenure_months >= 2 * {turnover_window_months} AND settlement_prev_12m_usd > 0
                THEN settlement_12m_usd / settlement_prev_12m_usd - 1 END AS turnover_growth
    FROM client_means
),
active_clients AS (  -- onboarded by the as-of month's last day and not offboarded before its first day
    SELECT c.client_id, c.name, c.client_type,
           coalesce(nullif(trim(c.related_party), ''), 'none') AS related_party,
           c.annual_sales_usd, coalesce(c.monopoly_position, false) AS monopoly_position,
           coalesce(c.strategic, false) AS strategic, c.service_model, nullif(trim(c.group_id), '') AS group_id,
           m.as_of_month, m.previous_month
    FROM clients c
    JOIN as_of_months m
      ON c.onboarded_on <= last_day(m.as_of_month)
     AND (c.offboarded_on IS NULL OR c.offboarded_on >= m.as_of_month)
),
client_assessment AS (  -- an active client without accounts (yet): no history, everything 0
    SELECT a.*, p.first_month,
           coalesce(p.tenure_months, 0) AS tenure_months,
           coalesce(p.revenue_cum_usd, 0.0) AS revenue_usd, coalesce(p.cost_cum_usd, 0.0) AS cost_usd,
           coalesce(p.ltv_usd, 0.0) AS ltv_usd,
           coalesce(p.ltv_usd / p.tenure_months, 0.0) AS avg_monthly_margin_usd,
           p.margin_mean_12m_usd, p.margin_std_12m_usd,
           CASE WHEN p.margin_mean_12m_usd > 0 THEN p.margin_std_12m_usd / p.margin_mean_12m_usd END AS margin_cv,
           coalesce(p.products_used, 0) AS products_used,
           coalesce(p.avg_monthly_settlement_turnover_usd, 0.0) AS avg_monthly_settlement_turnover_usd,
           coalesce(p.export_12m_usd, 0.0) AS export_12m_usd,
           coalesce(p.adb_usd, 0.0) AS adb_usd,
           p.turnover_growth,
           coalesce(p.settlement_12m_usd, 0.0) AS settlement_12m_usd,
           coalesce(p.settlement_prev_12m_usd, 0.0) AS settlement_prev_12m_usd
    FROM active_clients a
    LEFT JOIN client_measures p ON p.client_id = a.client_id AND p.month = a.as_of_month
),
ltv_ranking AS (
    SELECT *,
           row_number() OVER (PARTITION BY as_of_month ORDER BY ltv_usd DESC, client_id) AS ltv_rank,
           row_number() OVER (PARTITION BY as_of_month, ltv_usd >= 0 ORDER BY ltv_usd DESC, client_id)
               AS position_by_sign,
           count(*) OVER (PARTITION BY as_of_month, ltv_usd >= 0) AS clients_by_sign
    FROM client_assessment
),
pyramid AS (  -- most valuable: the top share of the clients with LTV ≥ 0 (ceil); then stable or not
    SELECT * EXCLUDE (position_by_sign, clients_by_sign),
           CASE WHEN ltv_usd < 0 THEN 'ballast'
                WHEN position_by_sign <= ceil(round({top_share} * clients_by_sign, 9)) THEN 'most_valuable'
                WHEN tenure_months >= {min_history_months} AND margin_mean_12m_usd > 0
                     AND margin_cv <= {max_margin_cv} THEN 'strategic'
                ELSE 'workhorse' END AS ltv_tier
    FROM ltv_ranking
),
vip_criteria AS (  -- measures compared at 9 decimals, as the pipeline does
    SELECT *,
           monopoly_position AS monopoly_met,
           strategic AS strategic_met,
"""
    + CRITERIA.format(measures="pyramid", criteria="vip_criteria")
    + """
SELECT *, criteria_met >= {min_criteria} AND client_type <> 'individual' AS vip_eligible
FROM criteria_counted
""",
    """
-- economic groups with at least 2 active members, assessed like one client on their members
CREATE TABLE group_assessment AS
WITH
members AS (
    SELECT * FROM client_decisions WHERE group_id IS NOT NULL
),
group_products AS (  -- distinct products across the members' accounts open in the as-of month
    SELECT m.group_id, m.as_of_month, count(DISTINCT a.product) AS products_used
    FROM members m
    JOIN monthly_account_activity a ON a.client_id = m.client_id AND a.month = m.as_of_month
    GROUP BY m.group_id, m.as_of_month
),
group_sums AS (
    SELECT group_id, as_of_month,
           count(DISTINCT client_id) AS members,
           sum(ltv_usd) AS group_ltv_usd,
           sum(annual_sales_usd) AS annual_sales_usd,
           sum(avg_monthly_settlement_turnover_usd) AS avg_monthly_settlement_turnover_usd,
           sum(export_12m_usd) AS export_12m_usd,
           sum(adb_usd) AS adb_usd,
           bool_or(monopoly_position) AS monopoly_met,
           bool_or(strategic) AS strategic_met,
           bool_or(client_type <> 'individual') AS has_non_individual,
           min(first_month) AS first_month,
           sum(settlement_12m_usd) AS settlement_12m_usd,
           sum(settlement_prev_12m_usd) AS settlement_prev_12m_usd
    FROM members
    GROUP BY group_id, as_of_month
    HAVING count(DISTINCT client_id) >= 2
),
group_measures AS (  -- growth over the group's history from its earliest member's first month
    SELECT g.*, coalesce(p.products_used, 0) AS products_used,
           row_number() OVER (PARTITION BY g.as_of_month ORDER BY round(g.group_ltv_usd, 9) DESC, g.group_id)
               AS group_ltv_rank,
           CASE WHEN datediff('month', g.first_month, g.as_of_month) + 1 >= 2 * {turnover_window_months}
                     AND g.settlement_prev_12m_usd > 0
                THEN g.settlement_12m_usd / g.settlement_prev_12m_usd - 1 END AS turnover_growth
    FROM group_sums g
    LEFT JOIN group_products p ON p.group_id = g.group_id AND p.as_of_month = g.as_of_month
),
group_criteria AS (
    SELECT *,
"""
    + CRITERIA.format(measures="group_measures", criteria="group_criteria")
    + """
SELECT *, criteria_met >= {min_criteria} AND has_non_individual AS group_vip_eligible
FROM criteria_counted
""",
    """
-- service category (key → vip → mass → corporate), the VIP procedure's next step, the previous month's values
CREATE TABLE client_segments AS
WITH
with_group AS (
    SELECT d.*, coalesce(g.group_vip_eligible, false) AS group_vip_eligible,
           d.vip_eligible OR coalesce(g.group_vip_eligible, false) AS eligible_alone_or_through_group
    FROM client_decisions d
    LEFT JOIN group_assessment g ON g.group_id = d.group_id AND g.as_of_month = d.as_of_month
),
categories AS (
    SELECT *,
           CASE WHEN related_party <> 'none' THEN 'key'
                WHEN eligible_alone_or_through_group THEN 'vip'
                WHEN client_type = 'individual'
                     OR round(avg_monthly_settlement_turnover_usd, 9) < {mass_turnover_usd} THEN 'mass'
                ELSE 'corporate' END AS category,
           CASE WHEN eligible_alone_or_through_group AND service_model <> 'vip' THEN 'approach'
                WHEN service_model <> 'vip' AND criteria_met = {watch_criteria} THEN 'watch'
                WHEN service_model = 'vip' AND related_party = 'none' AND NOT eligible_alone_or_through_group
                     THEN 'review' END AS recommended_action
    FROM with_group
)
SELECT c.*, p.category AS previous_category, p.ltv_tier AS previous_ltv_tier
FROM categories c
LEFT JOIN categories p ON p.client_id = c.client_id AND p.as_of_month = c.previous_month
""",
    """
-- movement between tiers and categories since the previous complete month (new / gone at the edges)
CREATE TABLE segment_migrations AS
WITH
month_pairs AS (
    SELECT DISTINCT as_of_month, previous_month FROM client_segments WHERE previous_month IS NOT NULL
),
now AS (
    SELECT p.as_of_month, s.client_id, s.ltv_tier, s.category, s.ltv_usd
    FROM month_pairs p JOIN client_segments s ON s.as_of_month = p.as_of_month
),
before AS (
    SELECT p.as_of_month, s.client_id, s.ltv_tier, s.category, s.ltv_usd
    FROM month_pairs p JOIN client_segments s ON s.as_of_month = p.previous_month
),
transitions AS (  -- the LTV of a transition: now, or for a client gone the LTV that left
    SELECT coalesce(n.as_of_month, b.as_of_month) AS as_of_month,
           coalesce(b.ltv_tier, 'new') AS ltv_tier_from, coalesce(n.ltv_tier, 'gone') AS ltv_tier_to,
           coalesce(b.category, 'new') AS category_from, coalesce(n.category, 'gone') AS category_to,
           coalesce(n.ltv_usd, b.ltv_usd) AS ltv_usd
    FROM now n
    FULL JOIN before b ON b.as_of_month = n.as_of_month AND b.client_id = n.client_id
)
SELECT as_of_month, 'ltv_tier' AS dimension, ltv_tier_from AS from_value, ltv_tier_to AS to_value,
       count(*) AS clients, sum(ltv_usd) AS ltv_usd
FROM transitions GROUP BY ALL
UNION ALL
SELECT as_of_month, 'category', category_from, category_to, count(*), sum(ltv_usd)
FROM transitions GROUP BY ALL
""",
]


# ----------------------------------------------------------------------------------------------- the pass
def _parameters(rules: DecisionRules) -> dict:
    w, s = rules.turnover_window_months, rules.stability_window_months
    return {
        **asdict(rules),
        **MARGIN,
        "max_fx_age_days": MAX_FX_AGE_DAYS,
        "credit_products": ", ".join(_quote(p) for p in CREDIT_PRODUCTS),
        "stability_rows": s - 1,
        "turnover_rows": w - 1,
        "earlier_turnover_rows": 2 * w - 1,
    }


def load(con, landing: Path) -> None:
    """The extracts as DuckDB relations: the latest clients/accounts snapshot and the FX rates as tables,
    balances and transactions as views over their files (each read once, by the pass), and the landed months
    with their period end: a month in progress (not complete, nothing landed after it) ends at its latest
    booking or balance day."""
    files = landed_files(landing)
    of = {extract: [f for f in files if f.extract == extract] for extract in TYPES}
    for snapshot in ("clients", "accounts"):
        con.execute(f"CREATE TABLE {snapshot} AS {_read(snapshot, of[snapshot][-1:])}")
    con.execute(f"CREATE TABLE fx_rates AS {_read('fx_rates', of['fx_rates'])}")
    for delta in ("balances", "transactions"):
        con.execute(f"CREATE VIEW {delta} AS {_read(delta, of[delta])}")
    monthly = [f for f in files if f.extract in MONTHLY_EXTRACTS]
    latest_balance_day = max((f.end for f in of["balances"]), default=None)
    months = []
    for month in sorted({f.start.replace(day=1) for f in monthly}):
        last = _month_end(month)
        complete = latest_balance_day is not None and latest_balance_day >= last
        end = last
        if not complete and not any(f.start > last for f in monthly):
            days = [
                f"SELECT max(balance_date) AS day FROM ({_read('balances', _in(of['balances'], month))})",
                f"SELECT max(booking_date) FROM ({_read('transactions', _in(of['transactions'], month))})",
            ]
            latest = con.execute(f"SELECT max(day) FROM ({' UNION ALL '.join(days)})").fetchall()[0][0]
            end = max(month, min(last, latest)) if latest is not None else month
        months.append((month, end, complete))
    con.execute("CREATE TABLE landed_months (month DATE, period_end DATE, is_complete BOOLEAN)")
    if months:
        con.executemany("INSERT INTO landed_months VALUES (?, ?, ?)", months)


def _in(files: list[Landed], month: date) -> list[Landed]:
    return [f for f in files if f.start.replace(day=1) == month]


def compute(con, rules: DecisionRules = DecisionRules()) -> None:
    """The metrics and decisions as tables of `con` (after `load`): TABLES, plus client_decisions."""
    parameters = _parameters(rules)
    for statement in METRICS + DECISIONS:
        con.execute(statement.format(**parameters))


def connect(threads: int = THREADS, temp_directory: Path | None = None):
    try:
        import duckdb
    except ImportError as exc:  # the baseline's only dependency beyond the pipeline's
        raise SystemExit("the baseline needs duckdb: pip install -e '.[bench]' (or make install)") from exc

    con = duckdb.connect(config={"threads": threads, "preserve_insertion_order": False})
    if temp_directory is not None:
        con.execute(f"SET temp_directory = {_quote(str(temp_directory))}")
    return con


def run_baseline(landing: Path, out: Path | None = None, threads: int = THREADS, con=None):
    """The whole pass over `landing`; with `out`, the result tables as Parquet files there. Returns the
    connection (its tables hold the results) and the rows per table."""
    spill = Path(tempfile.mkdtemp(prefix="vip-baseline-"))
    try:
        con = con or connect(threads, spill)
        load(con, Path(landing))
        compute(con)
        rows = {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in TABLES}
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            for table in TABLES:
                con.execute(f"COPY {table} TO {_quote(str(out / f'{table}.parquet'))} (FORMAT parquet)")
        return con, rows
    finally:
        shutil.rmtree(spill, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vip_pipeline.baseline", description=__doc__.splitlines()[0])
    parser.add_argument("--landing", required=True, type=Path)
    parser.add_argument("--out", type=Path, help="write the result tables here as Parquet")
    parser.add_argument("--threads", type=int, default=THREADS)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    _, rows = run_baseline(args.landing, args.out, args.threads)
    print(json.dumps({"seconds": round(time.perf_counter() - started, 1), "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
