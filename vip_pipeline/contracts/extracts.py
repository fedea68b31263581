"""The input data contract (SPEC §3): one `ExtractContract` per extract, and its pandera schema.

`ExtractContract.pandera_schema()` is the one place the SPEC §3 rules live. With a `Delivery` (the delivered
text of a load, each row's file period, the accepted keys of referenced extracts, the accounts) the schema
parses the delivered text into typed columns and carries every row rule as a named pandera check:
`landing.validation` validates with it lazily and quarantines every row in its failure cases, the check's
name being the rule recorded in `rejected_rows`. Without a delivery it is the schema of the accepted,
typed rows (unique key, no parsing, no cross-file rule): the Dagster type of the snapshot assets.
The data-contract document is rendered from the same schemas (`contracts.render`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow
import pyarrow.compute

PRODUCTS = (
    "current",
    "deposit",
    "savings",
    "loan",
    "overdraft",
    "credit_line",
    "leasing",
    "card",
    "payroll",
    "trade_finance",
    "fx",
    "cash_management",
    "guarantee",
    "acquiring",
    "custody",
)
CREDIT_PRODUCTS = ("loan", "overdraft", "credit_line", "leasing")
CLIENT_TYPES = ("corporate", "sme", "bank", "individual")
RELATED_PARTIES = ("none", "subsidiary", "shareholder", "affiliate")
SERVICE_MODELS = ("vip", "standard", "mass")
DIRECTIONS = ("C", "D")
TXN_TYPES = ("payment", "transfer", "cash", "card", "fee", "interest", "fx", "loan", "other")
# Active ISO 4217 codes (plus XAU/XAG metals); a well-shaped but unknown code is rejected.
ISO_4217 = frozenset(
    """
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD CAD CDF
CHF CLP CNY COP CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD
HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL
LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR
PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND
TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XAG XAU XCD XCG XOF XPF YER ZAR ZMW ZWG ZWL
""".split()
)
PURPOSES = ("export", "import", "salary", "tax", "loan", "other")


@dataclass(frozen=True)
class Col:
    """One column of an extract: its kind, whether it is required, and its allowed values."""

    name: str
    kind: str  # str | date | month | number | bool | enum | currency | country
    description: str
    required: bool = True
    values: tuple[str, ...] = ()
    default: str | None = None  # value used when an optional enum is empty
    minimum: float | None = None  # inclusive lower bound for numbers
    positive: bool = False  # numbers that must be > 0


@dataclass(frozen=True)
class ExtractContract:
    """An extract's columns, key, references and date-in-period rules."""

    name: str
    description: str
    columns: tuple[Col, ...]
    key: tuple[str, ...]
    snapshot: bool = False  # full snapshot: only the latest file is loaded
    references: dict[str, str] = field(default_factory=dict)  # column -> extract it must exist in
    period_column: str | None = None  # date that must lie inside the file's period
    not_before: tuple[tuple[str, str], ...] = ()  # (later, earlier): later >= earlier when both present
    account_open_on: str | None = None  # date that must fall on a day the account is open

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def schema_rules(self) -> list[pa.Check]:
        """Every check of the delivery schema (column checks in column order, then the dataframe checks)."""
        schema = self.pandera_schema(Delivery.describing(self))
        return [*(check for column in schema.columns.values() for check in column.checks), *schema.checks]

    def rule_names(self) -> list[str]:
        """Every row rule of the delivery schema, in the order a rejected row lists the rules it failed."""
        names = []
        for c in self.columns:
            names += [f"missing_value:{c.name}"] if c.required else []
            names += [f"{KIND_RULES[c.kind]}:{c.name}"] if c.kind in KIND_RULES else []
            names += [f"not_positive:{c.name}"] if c.positive else []
            names += [f"below_minimum:{c.name}"] if c.minimum is not None and not c.positive else []
        names += [f"{later}_before_{earlier}" for later, earlier in self.not_before]
        names += [f"unknown_{column}" for column in self.references]
        names += [f"outside_file_period:{self.period_column}"] if self.period_column else []
        names += [f"account_not_open_on:{self.account_open_on}"] if self.account_open_on else []
        return names

    def pandera_schema(self, delivery: Delivery | None = None) -> pa.DataFrameSchema:
        """The pandera schema of this extract.

        With a `delivery`: the schema of the delivered text. Each column's parser turns its text into the
        typed value ("" is missing, an unparseable value is null) and every SPEC §3 rule is a named check
        (the failure cases' `check` is the rule name). Every column is nullable here: a missing or
        unparseable value is reported by its own rule, not by pandera's generic `not_nullable`.
        Without: the typed accepted rows, key unique, required columns non-null, the value rules only.
        """
        columns = {}
        for c in self.columns:
            checks = _value_checks(c)
            if delivery is not None:
                checks = _delivered_checks(c, delivery) + checks + _cross_file_checks(self, c, delivery)
            text = delivery is not None and c.kind not in DTYPES  # as delivered: Arrow text (landing.reader)
            columns[c.name] = pa.Column(
                TEXT if text else DTYPES.get(c.kind, "object"),
                checks=checks,
                parsers=[pa.Parser(_parser(c, delivery))] if delivery is not None else None,
                nullable=delivery is not None or (not c.required and c.default is None and c.kind != "bool"),
                description=c.description,
                title=c.name,
            )
        return pa.DataFrameSchema(
            columns,
            checks=[_not_before(later, earlier) for later, earlier in self.not_before],
            unique=list(self.key) if delivery is None else None,
            name=self.name,
            description=self.description,
            coerce=False,
        )


DTYPES = {"date": "datetime64[ns]", "month": "datetime64[ns]", "number": "float64", "bool": "bool"}
TEXT = pd.ArrowDtype(pyarrow.string())  # delivered text, and the text columns of a delivery's accepted rows
KIND_RULES = {
    "date": "unparseable_date",
    "month": "unparseable_month",
    "number": "unparseable_number",
    "bool": "unparseable_bool",
    "enum": "not_allowed",
    "currency": "bad_currency_code",
    "country": "bad_country_code",
}
TRUE_VALUES = frozenset({"true", "t", "1", "yes", "y"})
FALSE_VALUES = frozenset({"false", "f", "0", "no", "n"})


@dataclass(frozen=True)
class Delivery:
    """What the rules of one load need besides the schema: the delivered text (one row per data row, every
    value a string, "" when empty; Arrow-backed, as read), each row's file period, the accepted keys of the
    referenced extracts and, for a date that must fall on an open day, the accounts (account_id, opened_on,
    closed_on)."""

    text: pd.DataFrame
    period_start: np.ndarray  # datetime64[ns], one per row
    period_end: np.ndarray
    references: dict[str, pd.Index] = field(default_factory=dict)
    accounts: pd.DataFrame | None = None
    _present: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @classmethod
    def describing(cls, contract: ExtractContract) -> Delivery:
        """An empty delivery: enough to build the schema to read its rules (the data-contract document)."""
        none = np.array([], dtype="datetime64[ns]")
        empty = pd.DataFrame({c: pd.Series(dtype=object) for c in contract.column_names})
        return cls(empty, none, none, {t: pd.Index([]) for t in contract.references.values()}, None)

    def present(self, column: str) -> np.ndarray:
        """Rows whose delivered value is not empty (computed once per column)."""
        if column not in self._present:
            self._present[column] = pyarrow.compute.not_equal(arrow_text(self.text[column]), "").to_numpy(
                zero_copy_only=False
            )
        return self._present[column]


# -- parsers: delivered text -> typed values -------------------------------------------------------------
def _parser(c: Col, d: Delivery) -> Callable[[pd.Series], pd.Series]:
    """Text -> typed values of one column; "" and unparseable values become null (their rules report them)."""
    if c.kind in ("date", "month"):
        return _parse_month if c.kind == "month" else _parse_date
    if c.kind == "number":
        return lambda text: _parse_number(text, d.present(c.name))
    if c.kind == "bool":
        return lambda text: text.str.lower().isin(TRUE_VALUES)
    empty = c.default  # None, or the value an empty optional enum stands for

    def text_value(text: pd.Series) -> pd.Series:
        present = d.present(c.name)
        return text if present.all() else text.where(present, empty)

    return text_value


def _parse_date(text: pd.Series) -> pd.Series:
    """Each distinct text parsed once (a month's rows carry a few dozen dates)."""
    codes, uniques = pd.factorize(text)
    days = pd.to_datetime(np.asarray(uniques, dtype=object), format="%Y-%m-%d", errors="coerce")
    values = np.append(days.to_numpy(dtype="datetime64[ns]"), np.datetime64("NaT", "ns"))[codes]  # code −1: null
    return pd.Series(values, index=text.index)


def _parse_month(text: pd.Series) -> pd.Series:
    values = _parse_date(text.where(text.str.len() != 7, text + "-01"))
    return values.where(values.dt.day == 1)


PLAIN_NUMBER = r"^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?$"


def _parse_number(text: pd.Series, present: np.ndarray) -> pd.Series:
    """Plain decimal numbers are parsed by Arrow's cast (2–3× faster than `pd.to_numeric`, identical values);
    any other non-empty value (`inf`, `1_000`, padded, unparseable) by `pd.to_numeric`, which decides what it
    means. Empty, unparseable and non-finite values are null: their rules report them."""
    arrow = arrow_text(text)
    plain = pyarrow.compute.match_substring_regex(arrow, PLAIN_NUMBER).to_numpy(zero_copy_only=False)
    values = np.full(len(text), np.nan)
    try:
        values[plain] = pyarrow.compute.cast(arrow.filter(pyarrow.array(plain)), pyarrow.float64()).to_numpy()
    except (pyarrow.ArrowInvalid, pyarrow.ArrowTypeError):  # a plain decimal Arrow cannot read (none known)
        plain[:] = False
    other = ~plain & present
    if other.any():
        rest = arrow.filter(pyarrow.array(other)).to_numpy(zero_copy_only=False)
        values[other] = pd.to_numeric(rest, errors="coerce").astype("float64")
    values[~np.isfinite(values)] = np.nan
    return pd.Series(values, index=text.index)


def arrow_text(text: pd.Series) -> pyarrow.Array:
    """The values of a text column as an Arrow array (no copy when the column is Arrow-backed)."""
    if isinstance(text.dtype, pd.ArrowDtype):
        return pyarrow.array(text.array)
    return pyarrow.array(text.to_numpy(), type=pyarrow.string(), from_pandas=True)


# -- checks ----------------------------------------------------------------------------------------------
def _rule(name: str, fn: Callable[[pd.Series], np.ndarray | pd.Series], description: str) -> pa.Check:
    """A vectorised check on the whole column (nulls included), its failure cases named `name`."""
    return pa.Check(
        lambda s: pd.Series(np.asarray(fn(s)), index=s.index),
        name=name.split(":")[0],
        error=name,
        description=description,
        ignore_na=False,
    )


def _matches(pattern: str, error: str, description: str) -> pa.Check:
    """`Check.str_matches`, with the regex run once per distinct value: a column of codes repeats a few values
    millions of times (5× faster on transactions)."""
    regex = re.compile(pattern)

    def matching(s: pd.Series) -> pd.Series:
        return s.isin([v for v in s.dropna().unique() if regex.match(v)])

    return pa.Check(matching, name="str_matches", error=error, description=description)


def _value_checks(c: Col) -> list[pa.Check]:
    """Rules on a typed value alone: allowed values, codes, ranges (nulls pass: missing is its own rule)."""
    checks = []
    if c.kind == "enum":
        allowed = "one of " + ", ".join(c.values)
        checks.append(pa.Check.isin(c.values, error=f"not_allowed:{c.name}", description=allowed))
    elif c.kind == "currency":
        checks.append(pa.Check.isin(ISO_4217, error=f"bad_currency_code:{c.name}", description="ISO 4217 code"))
    elif c.kind == "country":
        checks.append(_matches(r"[A-Z]{2}\Z", error=f"bad_country_code:{c.name}", description="ISO 3166 alpha-2"))
    if c.positive:
        checks.append(pa.Check.gt(0, error=f"not_positive:{c.name}", description="> 0"))
    elif c.minimum is not None:
        checks.append(pa.Check.ge(c.minimum, error=f"below_minimum:{c.name}", description=f"≥ {c.minimum:g}"))
    return checks


def _delivered_checks(c: Col, d: Delivery) -> list[pa.Check]:
    """Rules on the delivered text of a column: present when required, parseable as its kind."""
    checks = []
    if c.required:
        checks.append(_rule(f"missing_value:{c.name}", lambda s: d.present(c.name), "required"))
    if c.kind in ("date", "month", "number"):
        what = {"date": "YYYY-MM-DD", "month": "YYYY-MM or YYYY-MM-01", "number": "a finite number"}[c.kind]
        checks.append(
            _rule(f"{KIND_RULES[c.kind]}:{c.name}", lambda s: s.notna().to_numpy() | ~d.present(c.name), what)
        )
    elif c.kind == "bool":
        words = TRUE_VALUES | FALSE_VALUES
        checks.append(
            _rule(
                f"unparseable_bool:{c.name}",
                lambda s: d.text[c.name].str.lower().isin(words).to_numpy() | ~d.present(c.name),
                "true/t/1/yes/y or false/f/0/no/n",
            )
        )
    return checks


def _cross_file_checks(contract: ExtractContract, c: Col, d: Delivery) -> list[pa.Check]:
    """Rules that look beyond the row: the referenced key exists, the date lies in the file's period and on a
    day the account is open."""
    checks = []
    if c.name in contract.references:
        target = contract.references[c.name]
        known = d.references[target]
        checks.append(_rule(f"unknown_{c.name}", lambda s: s.isna() | s.isin(known), f"exists in {target}"))
    if c.name == contract.period_column:
        checks.append(
            _rule(
                f"outside_file_period:{c.name}",
                lambda s: s.isna().to_numpy() | ((s.to_numpy() >= d.period_start) & (s.to_numpy() <= d.period_end)),
                "inside the file's period",
            )
        )
    if c.name == contract.account_open_on:

        def open_on(day: pd.Series) -> np.ndarray:
            accounts = d.accounts
            ids = arrow_text(accounts["account_id"])
            where = pyarrow.compute.index_in(arrow_text(d.text["account_id"]), value_set=ids)
            at = where.fill_null(len(ids)).to_numpy(zero_copy_only=False)  # an unknown account: NaT, not judged
            nat = np.array(["NaT"], dtype="datetime64[ns]")
            opened = np.concatenate([accounts["opened_on"].to_numpy(), nat])[at]
            closed = np.concatenate([accounts["closed_on"].to_numpy(), nat])[at]
            day = day.to_numpy()
            return ~(~np.isnat(day) & ~np.isnat(opened) & ((day < opened) | (~np.isnat(closed) & (day > closed))))

        checks.append(_rule(f"account_not_open_on:{c.name}", open_on, "a day the account is open"))
    return checks


def _not_before(later: str, earlier: str) -> pa.Check:
    """`later` ≥ `earlier` when both are present (a rule on two columns: a dataframe-level check)."""
    return pa.Check(
        lambda df: ~(df[later] < df[earlier]),
        name="not_before",
        error=f"{later}_before_{earlier}",
        description=f"`{later}` ≥ `{earlier}`",
    )


CLIENTS = ExtractContract(
    name="clients",
    description="Client master data (full snapshot; the latest file wins).",
    snapshot=True,
    key=("client_id",),
    not_before=(("offboarded_on", "onboarded_on"),),
    columns=(
        Col("client_id", "str", "Bank-wide client identifier."),
        Col("name", "str", "Legal name of the client."),
        Col("client_type", "enum", "Kind of client; individuals are never VIP-eligible.", values=CLIENT_TYPES),
        Col(
            "related_party",
            "enum",
            "Relationship to the bank; anything but none makes the client `key`.",
            required=False,
            values=RELATED_PARTIES,
            default="none",
        ),
        Col("industry", "str", "Industry (free text).", required=False),
        Col("region", "str", "Region (free text).", required=False),
        Col("onboarded_on", "date", "Day the client relationship started."),
        Col("offboarded_on", "date", "Day the relationship ended, if it did.", required=False),
        Col("annual_sales_usd", "number", "Annual sales in USD (VIP scale criterion).", required=False, minimum=0),
        Col("monopoly_position", "bool", "Monopoly position in its industry and/or region (VIP criterion 3)."),
        Col("strategic", "bool", "Strategically attractive to the bank (VIP criterion 4)."),
        Col("service_model", "enum", "How the bank serves the client today.", values=SERVICE_MODELS),
        Col(
            "group_id",
            "str",
            "Economic group (a parent with its subsidiaries, companies under common control); empty = no group. "
            "A member of a VIP-eligible group is treated as VIP-eligible.",
            required=False,
        ),
    ),
)

ACCOUNTS = ExtractContract(
    name="accounts",
    description="Accounts (full snapshot; the latest file wins).",
    snapshot=True,
    key=("account_id",),
    references={"client_id": "clients"},
    not_before=(("closed_on", "opened_on"),),
    columns=(
        Col("account_id", "str", "Account identifier."),
        Col("client_id", "str", "Owner; must exist in clients."),
        Col("product", "enum", "Product of the account.", values=PRODUCTS),
        Col("currency", "currency", "ISO 4217 currency of the account."),
        Col("opened_on", "date", "Day the account was opened."),
        Col("closed_on", "date", "Day the account was closed (its last open day).", required=False),
    ),
)

TRANSACTIONS = ExtractContract(
    name="transactions",
    description="Booked transactions (deltas).",
    key=("txn_id",),
    references={"account_id": "accounts"},
    period_column="booking_date",
    account_open_on="booking_date",
    columns=(
        Col("txn_id", "str", "Transaction identifier, unique across all files."),
        Col("account_id", "str", "Account booked; must exist in accounts."),
        Col("booking_date", "date", "Booking day; inside the file's period."),
        Col("amount", "number", "Amount in the account currency, > 0.", positive=True),
        Col("direction", "enum", "C = credit (money in), D = debit (money out).", values=DIRECTIONS),
        Col("txn_type", "enum", "Kind of posting.", values=TXN_TYPES),
        Col("counterparty_account_id", "str", "Counterparty account, when known.", required=False),
        Col("counterparty_country", "country", "ISO 3166 alpha-2 country of the counterparty.", required=False),
        Col("purpose", "enum", "Declared purpose (export counts towards VIP scale).", required=False, values=PURPOSES),
    ),
)

BALANCES = ExtractContract(
    name="balances",
    description="End-of-day balances (deltas; core systems may export only changed balances).",
    key=("account_id", "balance_date"),
    references={"account_id": "accounts"},
    period_column="balance_date",
    columns=(
        Col("account_id", "str", "Account; must exist in accounts."),
        Col("balance_date", "date", "Day of the end-of-day balance; inside the file's period."),
        Col("balance", "number", "Signed balance in account currency; positive = the bank owes the client."),
    ),
)

FX_RATES = ExtractContract(
    name="fx_rates",
    description="Daily FX rates to USD (deltas).",
    key=("currency", "rate_date"),
    period_column="rate_date",
    columns=(
        Col("rate_date", "date", "Day of the rate; inside the file's period."),
        Col("currency", "currency", "ISO 4217 currency."),
        Col("usd_per_unit", "number", "USD per one unit of the currency, > 0.", positive=True),
    ),
)

CLIENT_PNL = ExtractContract(
    name="client_pnl",
    description="Optional client profitability from the bank's own P&L system; replaces the modelled margin.",
    key=("client_id", "month"),
    references={"client_id": "clients"},
    period_column="month",
    columns=(
        Col("client_id", "str", "Client; must exist in clients."),
        Col("month", "month", "Month, as its first day (YYYY-MM-01) or YYYY-MM."),
        Col("revenue_usd", "number", "Revenue earned from the client in the month, USD.", minimum=0),
        Col("cost_usd", "number", "Cost of serving the client in the month, USD.", minimum=0),
    ),
)

EXTRACTS: dict[str, ExtractContract] = {
    c.name: c for c in (CLIENTS, ACCOUNTS, TRANSACTIONS, BALANCES, FX_RATES, CLIENT_PNL)
}
MONTHLY_EXTRACTS = ("transactions", "balances", "client_pnl")
