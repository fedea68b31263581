"""Economic groups and movement between tiers / categories (SPEC §1), on small hand-built frames.

Every expectation is worked out by hand in the comment next to it (defaults: DecisionRules() —
products ≥ 4, scale strictly above $5M sales / $500k monthly turnover / $5M exports / $100k ADB,
growth ≥ +25 % with 24 months of history, eligible with 3 criteria, watch with exactly 2).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from vip_pipeline.checks import members_are_active, sums_match_members, migrations_add_up
from vip_pipeline.contracts.extracts import PRODUCTS
from vip_pipeline.decisions.groups import (
    GROUP_COLUMNS,
    PRODUCT_BITS,
    assess_groups,
    group_key,
    member_group_flags,
    popcount,
    product_mask,
    product_masks,
)
from vip_pipeline.decisions.movements import (
    MIGRATION_COLUMNS,
    migration_gaps,
    segment_migrations,
    segment_migrations_for,
)
from vip_pipeline.decisions.rules import DecisionRules
from vip_pipeline.decisions.segments import recommended_action, service_category
from vip_pipeline.decisions.vip import vip_criteria

D = pd.Timestamp
OCT, NOV, DEC = D("2024-10-01"), D("2024-11-01"), D("2024-12-01")
RULES = DecisionRules()


def mask(*products: str) -> int:
    return product_mask(pd.Series(list(products), dtype=object))


def member(client_id: str, group_id, as_of_month: pd.Timestamp = DEC, **kw) -> dict:
    """A client row as the pipeline computes it; by default a corporate with nothing that meets a criterion."""
    row = dict(
        client_id=client_id,
        as_of_month=as_of_month,
        group_id=group_id,
        client_type="corporate",
        related_party="none",
        service_model="standard",
        monopoly_position=False,
        strategic=False,
        annual_sales_usd=float("nan"),
        first_month=D("2020-01-01"),
        ltv_usd=0.0,
        product_mask=mask("current"),
        avg_monthly_settlement_turnover_usd=100_000.0,  # ≥ 50k: corporate, not mass
        export_12m_usd=0.0,
        adb_usd=0.0,
        settlement_12m_usd=0.0,
        settlement_prev_12m_usd=0.0,
        turnover_growth=float("nan"),
    )
    row.update(kw)
    return row


def frame_of(*rows: dict) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    frame["as_of_month"] = pd.to_datetime(frame["as_of_month"])
    frame["first_month"] = pd.to_datetime(frame["first_month"])
    frame["product_mask"] = frame["product_mask"].astype("int64")
    frame["products_used"] = popcount(frame["product_mask"])
    return frame


def decide(frame: pd.DataFrame, rules: DecisionRules = RULES) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The clients' own criteria, the groups, and each client's category and action through its group —
    the way the pipeline wires these pure functions."""
    clients = pd.concat([frame, vip_criteria(frame, rules)], axis=1)
    groups = assess_groups(clients, rules)
    clients["group_vip_eligible"] = member_group_flags(clients, groups)
    clients["category"] = service_category(clients, rules)
    clients["recommended_action"] = recommended_action(clients, rules)
    return clients.set_index(["client_id", "as_of_month"]), groups.set_index(["group_id", "as_of_month"])


# ---------------------------------------------------------------------------------------------- product masks
def test_product_bits_follow_the_contract_order():
    # bit i = PRODUCTS[i]: current is the first product (bit 0 = 1), custody the 15th (bit 14 = 16384)
    assert PRODUCT_BITS["current"] == 1 and PRODUCT_BITS["deposit"] == 2 and PRODUCT_BITS["custody"] == 1 << 14
    assert list(PRODUCT_BITS) == list(PRODUCTS)
    # current (1) + loan (8) + current again (once) = 9
    assert mask("current", "loan", "current") == 9
    with pytest.raises(ValueError, match="gold"):
        mask("gold")


def test_product_masks_per_client_month_and_popcount():
    accounts = pd.DataFrame(
        {
            "client_id": ["A", "A", "A", "B", "B"],
            "month": [NOV, NOV, DEC, DEC, DEC],
            "product": ["current", "current", "fx", "deposit", "custody"],
        }
    )
    masks = product_masks(accounts, ["client_id", "month"])
    # A/Nov: two current accounts → 1; A/Dec: fx = bit 10 → 1024; B/Dec: deposit 2 + custody 16384 = 16386
    assert masks.to_dict() == {("A", NOV): 1, ("A", DEC): 1024, ("B", DEC): 16386}
    assert masks.dtype == "int64"
    # popcount: 1 → 1 product, 16386 → 2, 0 → 0, all 15 bits → 15
    assert popcount(pd.Series([1, 16386, 0, 2**15 - 1])).tolist() == [1, 2, 0, 15]
    # the counts keep the masks' own index (a frame's column assigned back to it): rows 9 and 4, not 0 and 1
    assert popcount(pd.Series([16386, 1], index=[9, 4])).to_dict() == {9: 2, 4: 1}
    # a missing mask (no account that month) uses no product: 0, not 1
    assert popcount(pd.Series([np.nan, 3.0])).tolist() == [0, 2]


def test_blank_and_missing_group_ids_are_no_group():
    keys = group_key(pd.Series(["G1", None, np.nan, "", "  ", " G2 "], dtype=object))
    assert keys.tolist() == ["G1", None, None, None, None, "G2"]


# ---------------------------------------------------------------------------------------------- the group criteria
def test_group_vip_only_together():
    """A alone: products {current, deposit, savings, loan} = 4 → met; strategic → met; scale: nothing above a
    threshold → 2 criteria, not eligible. B alone: 1 product; annual sales 6M > 5M → scale met; strategic → met
    → 2 criteria. Together: products {current, deposit, savings, loan, card} = 5 → met; scale (Σ sales 6M) met;
    monopoly no; strategic (any) met; growth NULL (no earlier turnover) → 3 criteria → group_vip_eligible.
    A and B: category vip (through the group) and action approach (not watch, though each has exactly 2)."""
    frame = frame_of(
        member("A", "G1", strategic=True, product_mask=mask("current", "deposit", "savings", "loan"), ltv_usd=100.0),
        member("B", "G1", strategic=True, annual_sales_usd=6_000_000.0, product_mask=mask("current", "card"),
               ltv_usd=250.0),
    )
    clients, groups = decide(frame)
    assert clients["criteria_met"].tolist() == [2, 2]
    assert not clients["vip_eligible"].any()
    g = groups.loc[("G1", DEC)]
    assert (g["members"], g["products_used"], g["criteria_met"]) == (2, 5, 3)
    assert (g["products_met"], g["scale_met"], g["monopoly_met"], g["strategic_met"], g["growth_met"]) == (
        True, True, False, True, False)
    assert g["annual_sales_usd"] == 6_000_000.0 and g["group_ltv_usd"] == 350.0
    assert math.isnan(g["turnover_growth"])
    assert g["group_vip_eligible"]
    assert clients["group_vip_eligible"].tolist() == [True, True]
    assert clients["category"].tolist() == ["vip", "vip"]
    assert clients["recommended_action"].tolist() == ["approach", "approach"]


def test_member_flags_follow_the_frames_own_index():
    """The G1 pair of `test_group_vip_only_together` (eligible together) and a lone client C, in a frame whose
    index is not 0, 1, 2 (rows 7: C, 3: A, 5: B): the flags carry that index, so assigning them marks A and B,
    not whichever rows sit first."""
    frame = frame_of(
        member("C", None),
        member("A", "G1", strategic=True, product_mask=mask("current", "deposit", "savings", "loan"), ltv_usd=100.0),
        member("B", "G1", strategic=True, annual_sales_usd=6_000_000.0, product_mask=mask("current", "card"),
               ltv_usd=250.0),
    ).set_axis([7, 3, 5])
    clients = pd.concat([frame, vip_criteria(frame, RULES)], axis=1)
    flags = member_group_flags(clients, assess_groups(clients, RULES))
    assert flags.to_dict() == {7: False, 3: True, 5: True}
    assert frame.assign(group_vip_eligible=flags).set_index("client_id")["group_vip_eligible"].to_dict() == {
        "C": False, "A": True, "B": True}


def test_group_measures_are_sums_and_unions():
    """G1: A has {current, deposit} and ADB 60,000; B has {current, savings, loan} and ADB 50,000.
    products_used = |{current, deposit, savings, loan}| = 4 (current counted once; 2 + 3 would be 5) → met;
    Σ ADB = 110,000 > 100,000 → scale met. Σ export 3M + 2.5M = 5.5M > 5M also.
    G2: ADB 60,000 + 40,000 = 100,000, not strictly above → scale not met; exports 5M, not above; products
    {current} → 1. Σ turnover averages 250,000 + 250,000 = 500,000, not above 500,000."""
    frame = frame_of(
        member("A", "G1", adb_usd=60_000.0, export_12m_usd=3_000_000.0, product_mask=mask("current", "deposit")),
        member("B", "G1", adb_usd=50_000.0, export_12m_usd=2_500_000.0,
               product_mask=mask("current", "savings", "loan")),
        member("C", "G2", adb_usd=60_000.0, export_12m_usd=2_500_000.0, avg_monthly_settlement_turnover_usd=250_000.0),
        member("D", "G2", adb_usd=40_000.0, export_12m_usd=2_500_000.0, avg_monthly_settlement_turnover_usd=250_000.0),
    )
    groups = assess_groups(frame, RULES).set_index("group_id")
    assert groups.loc["G1", "products_used"] == 4 and groups.loc["G1", "products_met"]
    assert groups.loc["G1", "adb_usd"] == 110_000.0 and groups.loc["G1", "scale_met"]
    assert groups.loc["G2", "adb_usd"] == 100_000.0 and groups.loc["G2", "export_12m_usd"] == 5_000_000.0
    assert groups.loc["G2", "avg_monthly_settlement_turnover_usd"] == 500_000.0
    assert not groups.loc["G2", "scale_met"]
    assert groups.loc["G2", "products_used"] == 1 and groups.loc["G2", "criteria_met"] == 0
    # no member reports annual sales → NULL (not 0), like a client's own measure
    assert groups["annual_sales_usd"].isna().all()


def test_group_whose_only_non_individual_member_left():
    """G1 = corporate K + individuals I1, I2. I1 alone: products {current, deposit, savings, custody} = 4, strategic,
    ADB 200,000 > 100,000 → 3 criteria (an individual: never eligible itself).
    November (K active): 3 members; group criteria products, scale, strategic = 3, and K is not an individual
    → eligible: K, I1 and I2 are all `vip` (a member of an eligible group, SPEC rule 2).
    December (K offboarded, so not in the active frame): 2 members, still 3 criteria, but every member is an
    individual → not eligible; I1 and I2 are individuals → mass."""
    rich = dict(client_type="individual", strategic=True, adb_usd=200_000.0,
                product_mask=mask("current", "deposit", "savings", "custody"), avg_monthly_settlement_turnover_usd=0.0)
    poor = dict(client_type="individual", avg_monthly_settlement_turnover_usd=0.0)
    frame = frame_of(
        member("K", "G1", NOV),
        member("I1", "G1", NOV, **rich),
        member("I2", "G1", NOV, **poor),
        member("I1", "G1", DEC, **rich),
        member("I2", "G1", DEC, **poor),
    )
    clients, groups = decide(frame)
    assert groups.loc[("G1", NOV), "members"] == 3 and groups.loc[("G1", DEC), "members"] == 2
    assert groups.loc[("G1", NOV), "criteria_met"] == 3 and groups.loc[("G1", DEC), "criteria_met"] == 3
    assert groups.loc[("G1", NOV), "group_vip_eligible"]
    assert not groups.loc[("G1", DEC), "group_vip_eligible"]
    assert clients.loc[("I1", DEC), "criteria_met"] == 3 and not clients.loc[("I1", DEC), "vip_eligible"]
    assert clients.xs(NOV, level="as_of_month")["category"].to_dict() == {"K": "vip", "I1": "vip", "I2": "vip"}
    assert clients.xs(DEC, level="as_of_month")["category"].to_dict() == {"I1": "mass", "I2": "mass"}
    assert not clients.xs(DEC, level="as_of_month")["group_vip_eligible"].any()
    # December: I1 has 3 criteria, so not "exactly 2": no action; I2 has 0
    assert clients.xs(DEC, level="as_of_month")["recommended_action"].isna().all()


def test_growth_counts_group_history_from_its_earliest_member():
    """As of Dec 2024, window 12. G1: A's first month Jan 2023 → Jan 2023 … Dec 2024 = 24 months of group history
    (≥ 24); B joined Mar 2024 (10 months alone, too short on its own). Σ last 12 = 1,000,000 + 300,000 = 1,300,000;
    Σ previous 12 = 1,000,000 + 0 → growth 1.3 − 1 = 0.30 ≥ 0.25 → met.
    G2: the same figures but its earliest member started Feb 2023 → 23 months < 24 → NULL, not met.
    G3: 24 months but nothing in the previous 12 → NULL. G4: only members without accounts (no first month) → NULL.
    G5: 1,250,000 / 1,000,000 − 1 = 0.25 exactly → met (≥)."""
    frame = frame_of(
        member("A", "G1", first_month=D("2023-01-01"), settlement_12m_usd=1_000_000.0,
               settlement_prev_12m_usd=1_000_000.0),
        member("B", "G1", first_month=D("2024-03-01"), settlement_12m_usd=300_000.0),
        member("C", "G2", first_month=D("2023-02-01"), settlement_12m_usd=1_000_000.0,
               settlement_prev_12m_usd=1_000_000.0),
        member("D", "G2", first_month=D("2024-03-01"), settlement_12m_usd=300_000.0),
        member("E", "G3", first_month=D("2023-01-01"), settlement_12m_usd=500_000.0),
        member("F", "G3", first_month=D("2023-06-01"), settlement_12m_usd=500_000.0),
        member("G", "G4", first_month=pd.NaT),
        member("H", "G4", first_month=pd.NaT),
        member("I", "G5", first_month=D("2022-01-01"), settlement_12m_usd=1_000_000.0,
               settlement_prev_12m_usd=700_000.0),
        member("J", "G5", first_month=D("2022-05-01"), settlement_12m_usd=250_000.0,
               settlement_prev_12m_usd=300_000.0),
    )
    groups = assess_groups(frame, RULES).set_index("group_id")
    assert groups.loc["G1", "turnover_growth"] == pytest.approx(0.30)
    assert groups.loc["G1", "growth_met"]
    for g in ("G2", "G3", "G4"):
        assert math.isnan(groups.loc[g, "turnover_growth"]), g
        assert not groups.loc[g, "growth_met"], g
    assert groups.loc["G5", "turnover_growth"] == pytest.approx(0.25) and groups.loc["G5", "growth_met"]


def test_group_growth_on_one_dollar_of_earlier_turnover():
    """G1 (history from 2022: long enough): Σ previous 12 = 0.50 + 0.50 = 1.00 USD exactly, Σ last 12 = 1.00 +
    1.00 = 2.00 → growth 2.00 / 1.00 − 1 = 1.0 → met. A dollar of earlier turnover is turnover like any other."""
    frame = frame_of(
        member("A", "G1", first_month=D("2022-01-01"), settlement_12m_usd=1.0, settlement_prev_12m_usd=0.5),
        member("B", "G1", first_month=D("2022-01-01"), settlement_12m_usd=1.0, settlement_prev_12m_usd=0.5),
    )
    g = assess_groups(frame, RULES).set_index("group_id").loc["G1"]
    assert g["turnover_growth"] == pytest.approx(1.0) and g["growth_met"]


def test_group_ltv_rank_ties_by_group_id():
    """December: G3 = 500 + 0 = 500 → 1; G1 = 300 + 0 and G2 = 100 + 200 are both 300 → tie → G1 (2), G2 (3);
    G6 = 0.1 + 0.2 (0.30000000000000004 in floats) and G5 = 0.15 + 0.15 (0.3): equal money → tie → G5 (4)
    before G6 (5); G4 = −20 − 30 = −50 → 6. November (its own ranking): G1 = 4 + 6 = 10 → 1 only."""
    frame = frame_of(
        member("A", "G1", ltv_usd=300.0), member("B", "G1", ltv_usd=0.0),
        member("C", "G2", ltv_usd=100.0), member("D", "G2", ltv_usd=200.0),
        member("E", "G3", ltv_usd=500.0), member("F", "G3", ltv_usd=0.0),
        member("G", "G4", ltv_usd=-20.0), member("H", "G4", ltv_usd=-30.0),
        member("I", "G6", ltv_usd=0.1), member("J", "G6", ltv_usd=0.2),
        member("K", "G5", ltv_usd=0.15), member("L", "G5", ltv_usd=0.15),
        member("A", "G1", NOV, ltv_usd=4.0), member("B", "G1", NOV, ltv_usd=6.0),
    )
    groups = assess_groups(frame, RULES)
    dec = groups[groups["as_of_month"] == DEC].set_index("group_id")["group_ltv_rank"].to_dict()
    assert dec == {"G1": 2, "G2": 3, "G3": 1, "G4": 6, "G5": 4, "G6": 5}
    nov = groups[groups["as_of_month"] == NOV]
    assert nov[["group_id", "group_ltv_usd", "group_ltv_rank"]].values.tolist() == [["G1", 10.0, 1]]


def test_group_ltvs_are_compared_at_9_decimals():
    """G1 = 50 + 50 = 100; G2 = 50 + 50.0000000004 = 100.0000000004: equal at 9 decimals → a tie, broken by
    group_id → G1 1, G2 2 (compared at 10 decimals G2 would lead)."""
    frame = frame_of(member("A", "G1", ltv_usd=50.0), member("B", "G1", ltv_usd=50.0),
                     member("C", "G2", ltv_usd=50.0), member("D", "G2", ltv_usd=50.0000000004))
    ranks = assess_groups(frame, RULES).set_index("group_id")["group_ltv_rank"].to_dict()
    assert ranks == {"G1": 1, "G2": 2}


def test_group_month_is_datetime64_ns_whatever_the_unit_given():
    """The members' months in seconds resolution (as some readers give them): the published month is still
    datetime64[ns], December 2024."""
    frame = frame_of(member("A", "G1"), member("B", "G1"))
    frame["as_of_month"] = frame["as_of_month"].astype("datetime64[s]")
    groups = assess_groups(frame, RULES)
    assert groups["as_of_month"].dtype == "datetime64[ns]"
    assert groups["as_of_month"].tolist() == [DEC]


def test_related_party_member_of_an_eligible_group_stays_key():
    """G1: A alone has products 4, scale (sales 6M) and strategic → 3 → eligible, so G1 is eligible too.
    B is the bank's subsidiary (related party): rule 1 (key) comes before rule 2 → key; not served as VIP and
    eligible through its group → approach (as an eligible related party alone). C, a plain member: vip."""
    frame = frame_of(
        member("A", "G1", strategic=True, annual_sales_usd=6e6,
               product_mask=mask("current", "deposit", "loan", "card"), service_model="vip"),
        member("B", "G1", related_party="subsidiary"),
        member("C", "G1"),
    )
    clients, groups = decide(frame)
    assert groups.loc[("G1", DEC), "group_vip_eligible"]
    assert clients.loc[("B", DEC), "group_vip_eligible"] and not clients.loc[("B", DEC), "vip_eligible"]
    assert clients.loc[("B", DEC), "category"] == "key"
    assert clients.loc[("B", DEC), "recommended_action"] == "approach"
    assert clients.loc[("C", DEC), "category"] == "vip"
    assert pd.isna(clients.loc[("A", DEC), "recommended_action"])  # served as VIP and eligible: nothing to do


def test_review_reads_eligibility_through_the_group():
    """V1 is served as VIP with 1 criterion (strategic). In G1 (eligible: its partner P has 3 criteria) → still
    eligible through the group → no review, category vip. V2, the same client in G2 whose partner has only 1
    criterion (G2: strategic only → 1) → review, category corporate."""
    strong = dict(strategic=True, annual_sales_usd=6e6, product_mask=mask("current", "deposit", "loan", "card"))
    frame = frame_of(
        member("V1", "G1", strategic=True, service_model="vip"),
        member("P", "G1", **strong),
        member("V2", "G2", strategic=True, service_model="vip"),
        member("Q", "G2"),
    )
    clients, groups = decide(frame)
    assert groups["group_vip_eligible"].to_dict() == {("G1", DEC): True, ("G2", DEC): False}
    assert clients.loc[("V1", DEC), "category"] == "vip" and pd.isna(clients.loc[("V1", DEC), "recommended_action"])
    assert clients.loc[("V2", DEC), "category"] == "corporate"
    assert clients.loc[("V2", DEC), "recommended_action"] == "review"


def test_group_with_one_active_member_is_not_assessed():
    """G1 has two clients in the master data but only A is active in December (B onboarded later, so it is not
    in the frame): no group_assessment row and A's group_vip_eligible is False. A alone has 2 criteria
    (products 4, strategic) → not eligible: corporate and watch, exactly as without a group.
    A client without a group (Z) is never flagged."""
    frame = frame_of(
        member("A", "G1", strategic=True, product_mask=mask("current", "deposit", "loan", "card")),
        member("Z", None),
        member("Y", ""),
    )
    clients, groups = decide(frame)
    assert groups.empty and list(groups.reset_index().columns) == GROUP_COLUMNS
    assert not clients["group_vip_eligible"].any()
    assert clients.loc[("A", DEC), "category"] == "corporate"
    assert clients.loc[("A", DEC), "recommended_action"] == "watch"


def test_output_columns_types_and_order():
    frame = frame_of(member("B", "G2"), member("A", "G2"), member("C", "G1"), member("D", "G1", NOV),
                     member("E", "G1", NOV))
    groups = assess_groups(frame, RULES)
    assert list(groups.columns) == GROUP_COLUMNS
    # sorted by (group_id, as_of_month); G1 Dec has only C → not assessed
    assert groups[["group_id", "as_of_month"]].values.tolist() == [["G1", NOV], ["G2", DEC]]
    assert groups["members"].dtype == "int64" and groups["group_ltv_rank"].dtype == "int64"
    assert groups["products_used"].dtype == "int64" and groups["criteria_met"].dtype == "int64"
    for flag in ("products_met", "scale_met", "monopoly_met", "strategic_met", "growth_met", "group_vip_eligible"):
        assert groups[flag].dtype == bool, flag
    assert groups["as_of_month"].dtype == "datetime64[ns]"
    # each member's flag (published in client_segments) is a bool too: G2's members False, lone C False
    flags = member_group_flags(frame, groups)
    assert flags.dtype == bool and flags.tolist() == [False] * 5


# ---------------------------------------------------------------------------------------------- clients without a group
# (related_party, client_type, service_model, criteria_met, vip_eligible, avg turnover) → the old rule's
# (category, action), worked out by hand from SPEC §1 (first matching rule; approach / watch / review).
WITHOUT_GROUP = [
    (("none", "corporate", "standard", 3, True, 100_000.0), ("vip", "approach")),
    (("none", "corporate", "vip", 3, True, 100_000.0), ("vip", None)),
    (("none", "corporate", "vip", 1, False, 100_000.0), ("corporate", "review")),
    (("none", "sme", "standard", 2, False, 100_000.0), ("corporate", "watch")),
    (("none", "sme", "mass", 2, False, 10_000.0), ("mass", "watch")),
    (("none", "individual", "mass", 3, False, 0.0), ("mass", None)),
    (("shareholder", "corporate", "vip", 0, False, 0.0), ("key", None)),
    (("affiliate", "bank", "standard", 4, True, 900_000.0), ("key", "approach")),
    (("none", "bank", "standard", 0, False, 49_999.99), ("mass", None)),
    (("none", "corporate", "standard", 0, False, 50_000.0), ("corporate", None)),
]


@pytest.mark.parametrize("group_column", ["missing", "false", "null"])
def test_client_without_a_group_keeps_the_old_category_and_action(group_column):
    columns = ["related_party", "client_type", "service_model", "criteria_met", "vip_eligible",
               "avg_monthly_settlement_turnover_usd"]
    frame = pd.DataFrame([case for case, _ in WITHOUT_GROUP], columns=columns)
    if group_column == "false":
        frame["group_vip_eligible"] = False
    elif group_column == "null":  # e.g. a left join that found no group
        frame["group_vip_eligible"] = pd.Series([None] * len(frame), dtype=object)
    expected_category = [c for _, (c, _) in WITHOUT_GROUP]
    expected_action = [a for _, (_, a) in WITHOUT_GROUP]
    assert service_category(frame, RULES).tolist() == expected_category
    actions = recommended_action(frame, RULES)
    assert [None if pd.isna(a) else a for a in actions] == expected_action


def test_clients_without_a_group_are_unchanged_beside_an_eligible_group():
    """The same no-group clients decided alone and beside an eligible group G1 get the same category and action."""
    loners = [
        member("N1", None, strategic=True, product_mask=mask("current", "deposit", "loan", "card")),  # 2 → watch
        member("N2", None, service_model="vip"),  # 0 → review
        member("N3", np.nan, strategic=True, annual_sales_usd=6e6, monopoly_position=True),  # 3 → approach
    ]
    strong = dict(strategic=True, annual_sales_usd=6e6, monopoly_position=True)
    alone, _ = decide(frame_of(*loners))
    beside, groups = decide(frame_of(*loners, member("G1a", "G1", **strong), member("G1b", "G1")))
    assert groups["group_vip_eligible"].all()
    cols = ["category", "recommended_action", "group_vip_eligible"]
    pd.testing.assert_frame_equal(alone[cols], beside.loc[alone.index, cols])
    assert alone["category"].tolist() == ["corporate", "corporate", "vip"]
    assert alone["recommended_action"].tolist() == ["watch", "review", "approach"]


# ---------------------------------------------------------------------------------------------- migrations
def seg(client_id: str, month: pd.Timestamp, tier: str, category: str, ltv: float) -> dict:
    return dict(client_id=client_id, as_of_month=month, ltv_tier=tier, category=category, ltv_usd=ltv)


def segments_of(*rows: dict) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    frame["as_of_month"] = pd.to_datetime(frame["as_of_month"])
    return frame


PREVIOUS = segments_of(
    seg("C1", NOV, "workhorse", "corporate", 10.0),
    seg("C2", NOV, "strategic", "vip", 50.0),
    seg("C3", NOV, "ballast", "mass", -5.0),
    seg("C5", NOV, "workhorse", "corporate", 7.0),
)
CURRENT = segments_of(
    seg("C1", DEC, "strategic", "corporate", 20.0),
    seg("C2", DEC, "strategic", "vip", 60.0),
    seg("C4", DEC, "workhorse", "mass", 1.0),
    seg("C5", DEC, "strategic", "vip", 30.0),
)
# by hand: C1 workhorse→strategic (LTV now 20), C5 workhorse→strategic (30) → 2 clients, 50;
# C2 strategic→strategic (60); C3 ballast→gone (its November LTV −5); C4 new→workhorse (1).
# Categories: C1 corporate→corporate (20); C5 corporate→vip (30); C2 vip→vip (60); C3 mass→gone (−5);
# C4 new→mass (1).
EXPECTED_DEC = [
    [DEC, "category", "corporate", "corporate", 1, 20.0],
    [DEC, "category", "corporate", "vip", 1, 30.0],
    [DEC, "category", "mass", "gone", 1, -5.0],
    [DEC, "category", "new", "mass", 1, 1.0],
    [DEC, "category", "vip", "vip", 1, 60.0],
    [DEC, "ltv_tier", "ballast", "gone", 1, -5.0],
    [DEC, "ltv_tier", "new", "workhorse", 1, 1.0],
    [DEC, "ltv_tier", "strategic", "strategic", 1, 60.0],
    [DEC, "ltv_tier", "workhorse", "strategic", 2, 50.0],
]


def test_migrations_new_and_gone():
    out = segment_migrations(CURRENT, PREVIOUS)
    assert list(out.columns) == MIGRATION_COLUMNS
    assert out.values.tolist() == EXPECTED_DEC
    assert out["clients"].dtype == "int64" and out["ltv_usd"].dtype == "float64"
    assert out["as_of_month"].dtype == "datetime64[ns]"
    # adds up: per dimension Σ from ≠ new = 4 November clients, Σ to ≠ gone = 4 December clients
    for dimension in ("ltv_tier", "category"):
        rows = out[out["dimension"] == dimension]
        assert rows.loc[rows["from_value"] != "new", "clients"].sum() == 4
        assert rows.loc[rows["to_value"] != "gone", "clients"].sum() == 4


def test_migrations_when_everybody_is_new_or_gone():
    # no November clients: the two December clients are new (LTV 20 + 60 under strategic, one row)
    first = segment_migrations(CURRENT[CURRENT["client_id"].isin(["C1", "C2"])], PREVIOUS.iloc[0:0])
    assert first[first["dimension"] == "ltv_tier"].values.tolist() == [[DEC, "ltv_tier", "new", "strategic", 2, 80.0]]
    # nobody left in December: every November client is gone; the month must be given
    last = segment_migrations(CURRENT.iloc[0:0], PREVIOUS, as_of_month=DEC)
    gone = last.loc[last["dimension"] == "category", ["from_value", "to_value", "clients", "ltv_usd"]]
    # C1 (10) and C5 (7) were corporate → 2 clients, 17; C3 mass (−5); C2 vip (50)
    assert gone.values.tolist() == [["corporate", "gone", 2, 17.0], ["mass", "gone", 1, -5.0], ["vip", "gone", 1, 50.0]]
    with pytest.raises(ValueError, match="as_of_month"):
        segment_migrations(CURRENT.iloc[0:0], PREVIOUS)


def test_migrations_for_several_months_equal_the_single_month_ones():
    """October: C1 workhorse/corporate (LTV 3), C3 ballast/mass (−4). November vs October: C1 workhorse→workhorse,
    C3 ballast→ballast, C2 and C5 new. October itself has no previous month in the data → no rows."""
    october = segments_of(seg("C1", OCT, "workhorse", "corporate", 3.0), seg("C3", OCT, "ballast", "mass", -4.0))
    segments = pd.concat([october, PREVIOUS, CURRENT], ignore_index=True)
    out = segment_migrations_for(segments, [OCT, NOV, DEC])
    assert set(out["as_of_month"]) == {NOV, DEC}
    assert out[out["as_of_month"] == DEC].values.tolist() == EXPECTED_DEC
    nov = out[(out["as_of_month"] == NOV) & (out["dimension"] == "ltv_tier")]
    assert nov[["from_value", "to_value", "clients", "ltv_usd"]].values.tolist() == [
        ["ballast", "ballast", 1, -5.0], ["new", "strategic", 1, 50.0], ["new", "workhorse", 1, 7.0],
        ["workhorse", "workhorse", 1, 10.0]]
    pd.testing.assert_frame_equal(
        out[out["as_of_month"] == NOV].reset_index(drop=True), segment_migrations(PREVIOUS, october))
    assert segment_migrations_for(segments, [OCT]).empty


def test_migrations_add_up_check():
    segments = pd.concat([PREVIOUS, CURRENT], ignore_index=True)
    migrations = segment_migrations_for(segments, [DEC])
    ok, meta = migrations_add_up(migrations, segments, [DEC])
    assert ok and meta["mismatches"] == 0
    # losing the `new` row breaks "Σ to ≠ gone = 4 active in December" for its dimension
    broken = migrations[~((migrations["from_value"] == "new") & (migrations["dimension"] == "category"))]
    ok, meta = migrations_add_up(broken, segments, [DEC])
    assert not ok and meta["examples"] == ["2024-12 category"]
    # a wrong LTV is caught too (Σ LTV of December clients = 20 + 60 + 1 + 30 = 111)
    wrong = migrations.assign(ltv_usd=migrations["ltv_usd"] + (migrations["to_value"] == "vip") * 1.0)
    gaps = migration_gaps(wrong, segments, [DEC]).set_index("dimension")
    assert gaps.loc["ltv_tier", "ok"] and gaps.loc["ltv_tier", "expected_ltv"] == 111.0
    assert not gaps.loc["category", "ok"]
    # rows for a month without a previous month in the segments are wrong
    ok, _ = migrations_add_up(migrations.assign(as_of_month=NOV), segments, [NOV])
    assert not ok


# ---------------------------------------------------------------------------------------------- group checks
def _published_pair():
    frame = frame_of(
        member("A", "G1", ltv_usd=10.0, adb_usd=5.0, annual_sales_usd=1e6, monopoly_position=True),
        member("B", "G1", ltv_usd=20.0, adb_usd=7.0, export_12m_usd=3.0),
        member("C", "G2", ltv_usd=1.0), member("D", "G2", ltv_usd=2.0),
        member("E", "G3"),  # a group with one active member: not assessed
        member("F", None),
    )
    return frame, assess_groups(frame, RULES)


def test_group_checks_pass_on_assessed_groups():
    frame, groups = _published_pair()
    assert members_are_active(groups, frame)[0]
    ok, meta = sums_match_members(groups, frame)
    assert ok, meta
    assert meta["groups_checked"] == 2


def test_group_members_check_catches_a_wrong_count_and_a_missing_group():
    frame, groups = _published_pair()
    wrong = groups.assign(members=groups["members"].where(groups["group_id"] != "G1", 3))
    ok, meta = members_are_active(wrong, frame)
    assert not ok and meta["examples"] == ["G1 2024-12"]
    ok, meta = members_are_active(groups[groups["group_id"] != "G2"], frame)
    assert not ok and meta["examples"] == ["G2 2024-12"]


def test_group_sums_check_catches_a_wrong_sum_and_flag():
    frame, groups = _published_pair()
    ok, meta = sums_match_members(groups.assign(adb_usd=groups["adb_usd"] + 0.01), frame)
    assert not ok and meta["mismatches"]["adb_usd"] == 2
    ok, meta = sums_match_members(groups.assign(monopoly_met=False), frame)
    assert not ok and meta["mismatches"]["monopoly_met"] == 1


# ---------------------------------------------------------------------------------------------- mutation-testing pass
# (docs/testing.md, decisions/ 2026-11-30): each test below kills surviving mutants named in its docstring.
def test_product_masks_are_named_sorted_by_key_and_refuse_unknown_products():
    """Rows given out of key order (B/Dec, A/Dec, A/Nov): the masks come back sorted by (client, month) —
    A/Nov deposit = 2, A/Dec current = 1, B/Dec loan = 8 — in a Series named `product_mask` (metrics/activity.py
    turns it into that column with reset_index). An unknown product is named in the error.
    Kills groups.x_product_masks__mutmut_5..8 (message), _14/_25/_26 (name), _17/_20 (order)."""
    accounts = pd.DataFrame({"client_id": ["B", "A", "A"], "month": [DEC, DEC, NOV],
                             "product": ["loan", "current", "deposit"]})
    masks = product_masks(accounts, ["client_id", "month"])
    assert masks.index.tolist() == [("A", NOV), ("A", DEC), ("B", DEC)]
    assert masks.tolist() == [2, 1, 8]
    assert masks.name == "product_mask"
    assert list(masks.reset_index().columns) == ["client_id", "month", "product_mask"]
    with pytest.raises(ValueError, match=r"unknown product\(s\) \['gold'\]; expected one of"):
        product_masks(accounts.assign(product=["loan", "gold", "current"]), ["client_id", "month"])


def test_no_migrations_is_an_empty_table_with_the_published_columns_and_types():
    """Only the first month of the data (no previous month) or nobody in either month: no rows, but the
    migration table's columns and types. Kills movements.x__empty__mutmut_1..14."""
    empties = (segment_migrations_for(PREVIOUS, [NOV]),
               segment_migrations(CURRENT.iloc[0:0], PREVIOUS.iloc[0:0], as_of_month=DEC))
    for out in empties:
        assert out.empty
        assert list(out.columns) == MIGRATION_COLUMNS
        assert [str(t) for t in out.dtypes] == ["datetime64[ns]", "object", "object", "object", "int64", "float64"]


def test_migration_month_is_datetime64_ns_whatever_the_timestamp_given():
    """pd.Timestamp("2024-12-01") has a resolution of seconds; the published month is datetime64[ns] all the
    same (everybody gone in December: 4 November clients → gone). Kills movements.x_segment_migrations__mutmut_36/37."""
    out = segment_migrations(CURRENT.iloc[0:0], PREVIOUS, as_of_month=pd.Timestamp("2024-12-01"))
    assert out["as_of_month"].dtype == "datetime64[ns]"
    assert out.groupby("dimension")["clients"].sum().to_dict() == {"category": 4, "ltv_tier": 4}


def test_a_client_twice_in_a_month_is_refused_not_counted_twice():
    """client_segments has one row per client and month; C1 twice in December would be counted twice.
    Kills movements.x__transitions__mutmut_30/35 (no one-to-one validation)."""
    doubled = pd.concat([CURRENT, CURRENT.head(1)], ignore_index=True)
    with pytest.raises(pd.errors.MergeError, match="not unique"):
        segment_migrations(doubled, PREVIOUS)


def _gaps(migrations, segments, months) -> list:
    gaps = migration_gaps(migrations, segments, months)
    columns = ["as_of_month", "dimension", "expected_from", "expected_to", "expected_ltv", "from_clients",
               "to_clients", "to_ltv", "ok"]
    return gaps.sort_values(["as_of_month", "dimension"])[columns].values.tolist()


def test_migration_gaps_by_hand():
    """PREVIOUS (November: 4 clients) and CURRENT (December: 4 clients, Σ LTV 20 + 60 + 1 + 30 = 111).
    November is the first month of the data: expected 0 / 0 / 0.0 and no rows published → ok.
    December: expected from 4 (November's clients), to 4, LTV 111; the migrations publish exactly that → ok.
    Counts are int64. Kills movements.x_migration_gaps__mutmut_62/77/92 (1 for a month without previous),
    _159.._164 (counts left unfilled / float), _167 (astype None), _177/_190 (missing rows as 1), _181/_182."""
    segments = pd.concat([PREVIOUS, CURRENT], ignore_index=True)
    migrations = segment_migrations_for(segments, [NOV, DEC])
    assert _gaps(migrations, segments, [NOV, DEC]) == [
        [NOV, "category", 0, 0, 0.0, 0, 0, 0.0, True],
        [NOV, "ltv_tier", 0, 0, 0.0, 0, 0, 0.0, True],
        [DEC, "category", 4, 4, 111.0, 4, 4, 111.0, True],
        [DEC, "ltv_tier", 4, 4, 111.0, 4, 4, 111.0, True],
    ]
    gaps = migration_gaps(migrations, segments, [NOV, DEC])
    for column in ("expected_from", "expected_to", "from_clients", "to_clients"):
        assert gaps[column].dtype == "int64", column


def test_migration_gaps_when_everybody_left_and_when_rows_are_missing():
    """Segments of November only; December asked for: its previous month is November, nobody is active in
    December → expected from 4, to 0, LTV 0.0; the all-gone migrations give from 4 (every row from a November
    value), to 0 (every row to gone: the LTV that left is not counted) → ok. Kills _76/_91 (a month without
    segments counted as 1), _165/_166 (expected_to left float).
    With the migrations of December missing altogether, December's expected 4 / 4 / 111 meets 0 / 0 / 0.0
    → not ok (an inner join would drop the month and pass). Kills _151."""
    gone = segment_migrations(CURRENT.iloc[0:0], PREVIOUS, as_of_month=DEC)
    assert _gaps(gone, PREVIOUS, [NOV, DEC]) == [
        [NOV, "category", 0, 0, 0.0, 0, 0, 0.0, True],
        [NOV, "ltv_tier", 0, 0, 0.0, 0, 0, 0.0, True],
        [DEC, "category", 4, 0, 0.0, 4, 0, 0.0, True],
        [DEC, "ltv_tier", 4, 0, 0.0, 4, 0, 0.0, True],
    ]
    assert migration_gaps(gone, PREVIOUS, [NOV, DEC])["expected_to"].dtype == "int64"
    segments = pd.concat([PREVIOUS, CURRENT], ignore_index=True)
    missing = segment_migrations_for(segments, [DEC]).iloc[0:0]
    assert _gaps(missing, segments, [DEC]) == [
        [DEC, "category", 4, 4, 111.0, 0, 0, 0.0, False],
        [DEC, "ltv_tier", 4, 4, 111.0, 0, 0, 0.0, False],
    ]
    ok, meta = migrations_add_up(missing, segments, [DEC])
    assert not ok and meta["examples"] == ["2024-12 category", "2024-12 ltv_tier"]


@pytest.mark.parametrize("expected_ltv, off, ok", [
    (111.0, 5e-5, True),     # tolerance 1e-6 × 111 = 1.11e-4 ≥ 5e-5 → float noise accepted (kills _192: 1e-6 / 111)
    (0.0, 1e-6, True),       # tolerance 1e-6 × max(|0|, 1) = 1e-6, off by exactly that → ok (≤; kills _218)
    (0.0, 4e-7, True),       # 4e-7 ≤ 1e-6 → ok (kills _194: no floor of 1 → tolerance 0)
    (0.0, 1.5e-6, False),    # 1.5e-6 > 1e-6 → gap (kills _197: floor 2 → tolerance 2e-6)
])
def test_migration_ltv_tolerance_is_one_millionth_with_a_floor_of_one_dollar(expected_ltv, off, ok):
    """Σ LTV of the December clients vs Σ ltv_usd of the rows that stay: equal within 1e-6 × max(|Σ|, 1).
    For Σ = 0: C1 in November (LTV 5) and December (LTV 0); the published LTV is shifted by `off`."""
    if expected_ltv:
        segments = pd.concat([PREVIOUS, CURRENT], ignore_index=True)
    else:
        segments = segments_of(seg("C1", NOV, "workhorse", "corporate", 5.0),
                               seg("C1", DEC, "workhorse", "corporate", 0.0))
    migrations = segment_migrations_for(segments, [DEC])
    one_staying_row = migrations[migrations["to_value"] != "gone"].groupby("dimension").head(1).index
    shifted = migrations.copy()
    shifted.loc[one_staying_row, "ltv_usd"] += off  # one row per dimension
    gaps = migration_gaps(shifted, segments, [DEC]).set_index("dimension")
    assert gaps.loc["ltv_tier", "expected_ltv"] == expected_ltv
    assert gaps["ok"].tolist() == [ok, ok]
