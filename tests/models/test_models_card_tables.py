"""The card's lending tables (models.evaluate): gains by score band, swap set, duplicates."""
import numpy as np
import pytest

from models.evaluate import duplicates_across_split, gains_table, swap_set


def test_gains_table_bands_cover_every_row_and_capture_all_bads():
    rng = np.random.default_rng(0)
    p = rng.beta(1, 12, 5000)
    y = (rng.random(5000) < p).astype(int)
    rows = gains_table(y, p)
    assert [r["band"] for r in rows] == ["A", "B", "C", "D", "E", "F"]
    assert sum(r["n"] for r in rows) == 5000 and sum(r["bads"] for r in rows) == y.sum()
    assert rows[0]["cumulative_bad_capture"] == pytest.approx(1.0)
    assert rows[-1]["cumulative_bad_capture"] == pytest.approx(rows[-1]["bads"] / y.sum())
    filled = [r for r in rows if r["n"]]
    assert all(a["pd_max"] <= b["pd_min"] for a, b in zip(filled, filled[1:]))  # A safest


def test_swap_set_splits_the_applicants_four_ways():
    y = np.array([0, 1, 0, 1, 0, 0])
    model = np.array([0.1, 0.1, 0.5, 0.5, 0.1, 0.5])
    base = np.array([0.1, 0.5, 0.1, 0.5, 0.1, 0.5])
    s = swap_set(y, model, base, 0.25)
    assert (s["both_approve"]["n"], s["swap_in"]["n"], s["swap_out"]["n"],
            s["both_decline"]["n"]) == (2, 1, 1, 2)
    assert s["swap_in"]["bad_rate"] == 1.0 and s["swap_out"]["bad_rate"] == 0.0


def test_duplicates_are_exact_feature_vectors_seen_in_training():
    train = np.array([[1, 2], [3, np.nan]], np.float32)
    hold = np.array([[1, 2], [3, np.nan], [1, 3]], np.float32)
    assert duplicates_across_split(train, hold) == {"holdout_rows": 3, "also_in_training": 2}
