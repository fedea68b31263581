"""The Parquet staging area: a frame with parts appended reads as its rows in order, counts them all, and a write or
a promotion without `append` replaces every part."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from vip_pipeline.storage.staging import StagingStore


def _rows(ids: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"txn_id": ids, "amount": [float(len(i)) for i in ids]})


def test_parts_promoted_with_append_follow_the_main_file_and_a_plain_promotion_replaces_them(tmp_path):
    store = StagingStore(tmp_path)
    store.write("t.pending", _rows(["a", "bb"]), "2024-03-01/0", "inputs-1")
    store.promote("t.pending", "t", "2024-03-01/0")
    for day, ids in (("2", ["ccc"]), ("3", ["dddd", "e"])):  # two nightlies
        store.write("t.appended", _rows(ids), "2024-03-01/0", f"inputs-{day}")
        store.promote("t.appended", "t", "2024-03-01/0", append=True)
    assert [f.name for f in store.files("t", "2024-03-01/0")] == ["0.parquet", "0.part-1.parquet", "0.part-2.parquet"]
    pd.testing.assert_frame_equal(store.read("t", "2024-03-01/0"), _rows(["a", "bb", "ccc", "dddd", "e"]))
    assert store.read("t", "2024-03-01/0", columns=["txn_id"])["txn_id"].tolist() == ["a", "bb", "ccc", "dddd", "e"]
    assert store.rows("t", "2024-03-01/0") == 5
    assert store.fingerprint("t", "2024-03-01/0") == "inputs-3"  # the last promotion's inputs
    assert not store.files("t.appended", "2024-03-01/0")

    store.write("t.pending", _rows(["x"]), "2024-03-01/0", "inputs-4")  # validated whole
    store.promote("t.pending", "t", "2024-03-01/0")
    assert [f.name for f in store.files("t", "2024-03-01/0")] == ["0.parquet"]
    pd.testing.assert_frame_equal(store.read("t", "2024-03-01/0"), _rows(["x"]))
    assert store.fingerprint("t", "2024-03-01/0") == "inputs-4"


def test_a_write_replaces_the_parts_and_remove_leaves_nothing(tmp_path):
    store = StagingStore(tmp_path)
    store.write("t", _rows(["a"]), "m/0", "one")
    store.write("t.appended", _rows(["b"]), "m/0")
    store.promote("t.appended", "t", "m/0", append=True)
    store.write("t", _rows(["z"]), "m/0", "two")
    assert [f.name for f in store.files("t", "m/0")] == ["0.parquet"] and store.rows("t", "m/0") == 1
    store.remove("t", "m/0")
    assert store.read("t", "m/0") is None and store.fingerprint("t", "m/0") is None and store.rows("t", "m/0") == 0
    store.remove("t", "m/0")  # nothing staged: nothing to do
    assert not list((tmp_path / "t").rglob("*.*"))


def test_appending_to_a_frame_not_staged_makes_it_the_frame(tmp_path):
    store = StagingStore(tmp_path)
    store.write("t.appended", _rows(["a"]), "m/0", "in")
    store.promote("t.appended", "t", "m/0", append=True)
    assert [f.name for f in store.files("t", "m/0")] == ["0.parquet"] and store.fingerprint("t", "m/0") == "in"


def test_eleven_nightlies_read_in_the_order_they_were_appended(tmp_path):
    store = StagingStore(tmp_path)
    store.write("t", _rows(["d0"]), "m/0")
    for day in range(1, 12):
        store.write("t.appended", _rows([f"d{day}"]), "m/0")
        store.promote("t.appended", "t", "m/0", append=True)
    assert store.read("t", "m/0")["txn_id"].tolist() == [f"d{day}" for day in range(12)]  # part-10 after part-9


def test_code_columns_read_as_categoricals_with_their_values_also_across_parts(tmp_path):
    """`codes`: the column is categorical, its values (and missing ones) as staged; a part whose dictionary differs
    (other values, another order) still reads as one categorical, rows in order."""
    store = StagingStore(tmp_path)
    store.write("t", pd.DataFrame({"direction": ["C", "D", "C"], "purpose": ["export", None, "tax"]}), "m/0")
    one = store.read("t", "m/0", codes=["direction", "purpose"])
    assert isinstance(one["direction"].dtype, pd.CategoricalDtype)
    assert one["direction"].tolist() == ["C", "D", "C"] and (one["direction"] == "C").tolist() == [True, False, True]
    assert one["purpose"].isna().tolist() == [False, True, False] and (one["purpose"] == "export").sum() == 1

    store.write("t.appended", pd.DataFrame({"direction": ["D", "D"], "purpose": ["salary", "export"]}), "m/0")
    store.promote("t.appended", "t", "m/0", append=True)
    both = store.read("t", "m/0", columns=["direction", "purpose"], codes=["direction", "purpose"])
    assert all(isinstance(both[c].dtype, pd.CategoricalDtype) for c in ("direction", "purpose"))
    assert both["direction"].tolist() == ["C", "D", "C", "D", "D"]
    assert both["purpose"].astype(object).where(both["purpose"].notna(), None).tolist() == [
        "export",
        None,
        "tax",
        "salary",
        "export",
    ]
    assert store.read("t", "m/0")["direction"].dtype == object  # without `codes`: text, as staged


def test_arrow_text_is_staged_as_it_is_and_read_back_as_python_strings(tmp_path):
    """Validated rows keep the reader's Arrow text into the staged file (no conversion); every reader of the stage
    gets Python strings, missing values as None, as from a frame of Python strings, also as categorical codes."""
    store = StagingStore(tmp_path)
    arrow = pd.DataFrame(
        {"account_id": pd.array(["A1", None, "B2"], dtype=pd.ArrowDtype(pa.string())), "amount": [1.0, 2.0, 3.0]}
    )
    plain = arrow.assign(account_id=pd.Series(["A1", None, "B2"], dtype=object))
    store.write("arrow", arrow)
    store.write("plain", plain)
    read = store.read("arrow")
    assert read["account_id"].dtype == object and read["account_id"].tolist() == ["A1", None, "B2"]
    pd.testing.assert_frame_equal(read, store.read("plain"))
    assert store.read("arrow", codes=["account_id"])["account_id"].dtype == "category"
    assert pq.read_schema(store.path("arrow")).field("account_id").type == pa.string()
