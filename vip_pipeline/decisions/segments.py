"""Service category (key → vip → mass → corporate) and the VIP procedure's recommended action."""

from __future__ import annotations

import numpy as np
import pandas as pd

from vip_pipeline.decisions.rules import DecisionRules

CATEGORIES = ("key", "vip", "corporate", "mass")


def eligible_alone_or_through_group(frame: pd.DataFrame) -> pd.Series:
    """vip_eligible, or a member of a group_vip_eligible economic group (SPEC §1 rule 2).

    A frame without a `group_vip_eligible` column (no groups assessed) reads it as all False, and a
    missing value (a client without a group) as False.
    """
    own = frame["vip_eligible"].astype(bool)
    if "group_vip_eligible" not in frame:
        return own
    return own | frame["group_vip_eligible"].astype("boolean").fillna(False).astype(bool)


def service_category(frame: pd.DataFrame, rules: DecisionRules) -> pd.Series:
    """First matching rule; `frame` has related_party, vip_eligible, client_type, the turnover average and
    optionally group_vip_eligible (key stays first: a related party in an eligible group is `key`)."""
    return pd.Series(
        np.select(
            [
                frame["related_party"] != "none",
                eligible_alone_or_through_group(frame),
                (frame["client_type"] == "individual")
                | (frame["avg_monthly_settlement_turnover_usd"].round(9) < rules.mass_turnover_usd),
            ],
            ["key", "vip", "mass"],
            default="corporate",
        ),
        index=frame.index,
    )


def recommended_action(frame: pd.DataFrame, rules: DecisionRules) -> pd.Series:
    """approach / watch / review, or None: what the VIP acquisition procedure does next.

    approach and review read "eligible alone or through its group"; watch stays on the client's own
    criteria_met and applies only when the client is not eligible through its group (approach comes first).
    """
    served_vip = frame["service_model"] == "vip"
    eligible = eligible_alone_or_through_group(frame)
    action = np.select(
        [
            eligible & ~served_vip,
            ~served_vip & (frame["criteria_met"] == rules.watch_criteria),
            served_vip & (frame["related_party"] == "none") & ~eligible,
        ],
        ["approach", "watch", "review"],
        default="",
    )
    return pd.Series(action, index=frame.index).replace("", None)
