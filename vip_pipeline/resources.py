"""Dagster resources: where the landing files are, where tables are published, and the methodology's parameters.

Locations come from config, else from environment variables read at run time (never at import,
never logged): VIP_LANDING_DIR, VIP_DATABASE_URL, VIP_STAGING_DIR, VIP_CSV_ENCODING, VIP_CSV_DELIMITER.
"""

from __future__ import annotations

import dataclasses
import os
import types
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import get_type_hints

from dagster import Backoff, ConfigurableResource, Failure, RetryPolicy
from pydantic import Field
from pydantic.fields import FieldInfo

from vip_pipeline.constants import DEFAULT_LANDING_DIR
from vip_pipeline.decisions.rules import DESCRIPTIONS as DECISION_RULE_DESCRIPTIONS
from vip_pipeline.decisions.rules import DecisionRules
from vip_pipeline.landing.inventory import Inventory, scan_landing
from vip_pipeline.landing.validation import ReadSettings
from vip_pipeline.metrics.margin import MarginRules
from vip_pipeline.storage.staging import StagingStore
from vip_pipeline.storage.warehouse import Warehouse, WarehouseRejected

DEFAULT_DATABASE_URL = "sqlite:///data/vip.db"
DEFAULT_STAGING_DIR = "data/staging"


# Steps that write to the database retry transient failures (database restarting, network blip) with backoff.
DATABASE_RETRY = RetryPolicy(
    max_retries=int(os.environ.get("VIP_DB_RETRIES", "3")),
    delay=float(os.environ.get("VIP_DB_RETRY_DELAY_S", "2")),
    backoff=Backoff.EXPONENTIAL,
)


def _setting(value: str | None, env: str, default: str) -> str:
    return value or os.environ.get(env) or default


@lru_cache(maxsize=8)
def _warehouse(url: str) -> Warehouse:
    """One engine per database URL per process, with the schema ensured once."""
    warehouse = Warehouse(url)
    warehouse.ensure_schema()
    return warehouse


class LandingResource(ConfigurableResource):
    """The landing directory and how its CSV files are read."""

    landing_dir: str | None = Field(default=None, description="Default: $VIP_LANDING_DIR or data/landing.")
    csv_encoding: str | None = Field(default=None, description="Default: $VIP_CSV_ENCODING or utf-8.")
    csv_delimiter: str | None = Field(default=None, description="Default: $VIP_CSV_DELIMITER or ','.")
    max_rejected_share: float = Field(
        default=0.01, description="A file with a larger share of rejected rows is refused."
    )

    @property
    def path(self) -> str:
        return _setting(self.landing_dir, "VIP_LANDING_DIR", DEFAULT_LANDING_DIR)

    def inventory(self) -> Inventory:
        return scan_landing(self.path)

    def settings(self) -> ReadSettings:
        return ReadSettings(
            encoding=_setting(self.csv_encoding, "VIP_CSV_ENCODING", "utf-8"),
            delimiter=_setting(self.csv_delimiter, "VIP_CSV_DELIMITER", ","),
            max_rejected_share=self.max_rejected_share,
        )


class WarehouseResource(ConfigurableResource):
    """The SQL database BI tools read (any SQLAlchemy URL)."""

    database_url: str | None = Field(default=None, description="Default: $VIP_DATABASE_URL or sqlite:///data/vip.db.")

    @property
    def warehouse(self) -> Warehouse:
        return _warehouse(_setting(self.database_url, "VIP_DATABASE_URL", DEFAULT_DATABASE_URL))

    @contextmanager
    def publishing(self) -> Iterator[Warehouse]:
        """The warehouse for a write; data it refuses fails the step at once (a retry would be refused again)."""
        try:
            yield self.warehouse
        except WarehouseRejected as exc:
            raise Failure(description=str(exc), allow_retries=False) from None


class StagingResource(ConfigurableResource):
    """Direct access to the Parquet staging area (for reads across months, e.g. the previous balance state)."""

    base_dir: str | None = Field(default=None, description="Default: $VIP_STAGING_DIR or data/staging.")

    @property
    def store(self) -> StagingStore:
        return StagingStore(_setting(self.base_dir, "VIP_STAGING_DIR", DEFAULT_STAGING_DIR))


class MetricRulesResource(ConfigurableResource):
    """Margin model and FX parameters (SPEC §2 defaults)."""

    ftp_rate: float = Field(default=0.03, description="Funds transfer price applied to ADB.")
    cost_per_account_month: float = Field(default=20.0, description="Servicing cost per open account per month, USD.")
    cost_per_transaction: float = Field(default=0.10, description="Servicing cost per transaction, USD.")
    max_fx_age_days: int = Field(default=7, description="Oldest FX rate usable for a day.")

    def margin_rules(self) -> MarginRules:
        return MarginRules(self.ftp_rate, self.cost_per_account_month, self.cost_per_transaction)


def _config_fields(source: type, descriptions: dict[str, str]) -> dict[str, tuple[type, FieldInfo]]:
    """Type and pydantic Field (default, description) of each field of a dataclass."""
    hints = get_type_hints(source)
    return {
        f.name: (hints[f.name], Field(default=f.default, description=descriptions[f.name]))
        for f in dataclasses.fields(source)
    }


def _decision_rules_body(namespace: dict) -> None:
    spec = _config_fields(DecisionRules, DECISION_RULE_DESCRIPTIONS)
    namespace["__annotations__"] = {name: hint for name, (hint, _) in spec.items()}
    namespace.update({name: config_field for name, (_, config_field) in spec.items()})
    namespace["__module__"] = __name__
    namespace["__doc__"] = (
        "Thresholds, shares and windows of the LTV pyramid, VIP criteria and categories (SPEC §1 defaults); "
        "one config field per field of `DecisionRules`, described there."
    )

    def rules(self) -> DecisionRules:
        return DecisionRules(**self.model_dump())

    namespace["rules"] = rules


# Built from `DecisionRules` so its fields, defaults and descriptions are declared once.
DecisionRulesResource = types.new_class("DecisionRulesResource", (ConfigurableResource,), {}, _decision_rules_body)
