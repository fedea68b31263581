"""The input data contract (SPEC §3): one `ExtractContract` per extract.

The same column specs drive row validation (`landing.validation`), the typed pandera
schema of the accepted rows and the column metadata shown in the Dagster UI.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandera.pandas as pa

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

    def pandera_schema(self) -> pa.DataFrameSchema:
        """Typed schema of the accepted rows (after parsing)."""
        dtypes = {"date": "datetime64[ns]", "month": "datetime64[ns]", "number": "float64", "bool": "bool"}
        columns = {}
        for c in self.columns:
            checks = []
            if c.values:
                checks.append(pa.Check.isin(list(c.values)))
            if c.positive:
                checks.append(pa.Check.gt(0))
            elif c.minimum is not None:
                checks.append(pa.Check.ge(c.minimum))
            nullable = not c.required and c.default is None and c.kind != "bool"
            columns[c.name] = pa.Column(
                dtypes.get(c.kind, "object"),
                checks=checks,
                nullable=nullable,
                description=c.description,
                title=c.name,
            )
        return pa.DataFrameSchema(
            columns,
            unique=list(self.key),
            name=self.name,
            description=self.description,
            coerce=False,
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
