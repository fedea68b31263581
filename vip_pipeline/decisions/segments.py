"""Service category (key → vip → mass → corporate) and the VIP procedure's recommended action."""

from __future__ import annotations

import numpy as np
import pandas as pd

from vip_pipeline.decisions.rules import DecisionRules

CATEGORIES = ("key", "vip", "corporate", "mass")
ACTIONS = ("approach", "watch", "review")


def service_category(frame: pd.DataFrame, rules: DecisionRules) -> pd.Series:
    """First matching rule; `frame` has related_party, vip_eligible, client_type and the turnover average."""
    return pd.Series(
        np.select(
            [
                frame["related_party"] != "none",
                frame["vip_eligible"],
                (frame["client_type"] == "individual")
                | (frame["avg_monthly_settlement_turnover_usd"].round(9) < rules.mass_turnover_usd),
            ],
            ["key", "vip", "mass"],
            default="corporate",
        ),
        index=frame.index,
    )


def recommended_action(frame: pd.DataFrame, rules: DecisionRules) -> pd.Series:
    """approach / watch / review, or None: what the VIP acquisition procedure does next."""
    served_vip = frame["service_model"] == "vip"
    action = np.select(
        [
            frame["vip_eligible"] & ~served_vip,
            ~served_vip & (frame["criteria_met"] == rules.watch_criteria),
            served_vip & (frame["related_party"] == "none") & ~frame["vip_eligible"],
        ],
        ["approach", "watch", "review"],
        default="",
    )
    return pd.Series(action, index=frame.index).replace("", None)
