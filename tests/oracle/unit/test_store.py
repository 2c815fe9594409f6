import csv
import math
import sqlite3

import numpy as np
import pytest

from eth_utils import to_checksum_address

from oracle import commitment
from oracle.scoring import schema_hash_hex
from oracle.store import MIGRATIONS, Store, StoreError, Submission, UnknownBorrower

A = "0x" + "11" * 20
B = "0x" + "22" * 20


def write_csv(path, rows, columns):
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=columns)
        w.writeheader()
        for r in rows:
            w.writerow(r)


def test_migrations_are_recorded_and_idempotent(tmp_path):
    path = tmp_path / "s.db"
    Store.open(path).close()
    store = Store.open(path)
    assert store.schema_version() == len(MIGRATIONS)
    rows = sqlite3.connect(path).execute("SELECT version FROM schema_migrations").fetchall()
    assert [r[0] for r in rows] == list(range(1, len(MIGRATIONS) + 1))


def test_put_and_get_features_commit_to_the_validated_vector(tmp_path, schema, good_row):
    store = Store.open(tmp_path / "s.db")
    salt = b"\x05" * 32
    stored = store.put_features(schema, A, good_row, salt)
    got = store.get_features(A.upper().replace("0X", "0x"))
    assert got.address == stored.address
    assert np.array_equal(got.vector, stored.vector)
    assert got.features_hash == commitment.features_hash(schema_hash_hex(schema), salt, got.vector)


def test_salt_is_kept_across_updates_unless_given(tmp_path, schema, good_row):
    store = Store.open(tmp_path / "s.db")
    first = store.put_features(schema, A, good_row)
    good_row["age"] = 46
    second = store.put_features(schema, A, good_row)
    assert first.salt == second.salt and first.features_hash != second.features_hash


def test_unknown_borrower(tmp_path):
    store = Store.open(tmp_path / "s.db")
    with pytest.raises(UnknownBorrower):
        store.get_features(A)
    with pytest.raises(UnknownBorrower):
        store.get_features("not-an-address")


def test_csv_import_validates_every_row(tmp_path, schema, good_row):
    cols = ["borrower", "salt"] + [f["name"] for f in schema["features"]]
    bad_age = dict(good_row, age=12)
    missing_income = dict(good_row, MonthlyIncome="")
    rows = [dict(good_row, borrower=A, salt="0x" + "ab" * 32),
            dict(bad_age, borrower=B, salt=""),
            dict(missing_income, borrower="0x" + "33" * 20, salt=""),
            dict(good_row, borrower="nobody", salt=""),
            dict(good_row, borrower="0x" + "44" * 20, salt="0x12"),
            dict(good_row, DebtRatio="nan", borrower="0x" + "55" * 20, salt="")]
    write_csv(tmp_path / "f.csv", rows, cols)
    store = Store.open(tmp_path / "s.db")
    report = store.import_csv(schema, tmp_path / "f.csv")
    assert report.imported == 2
    assert [line for line, _ in report.errors] == [3, 5, 6, 7]
    assert "age" in report.errors[0][1]
    assert store.get_features(A).salt == b"\xab" * 32
    imputed = store.get_features("0x" + "33" * 20)
    assert math.isnan(imputed.vector[4])
    assert store.borrowers() == sorted([A, "0x" + "33" * 20])


def test_csv_with_unknown_column_or_no_borrower_is_refused(tmp_path, schema, good_row):
    write_csv(tmp_path / "a.csv", [dict(good_row, borrower=A, color="red")],
              ["borrower", "color"] + list(good_row))
    store = Store.open(tmp_path / "s.db")
    with pytest.raises(StoreError, match="unknown columns"):
        store.import_csv(schema, tmp_path / "a.csv")
    write_csv(tmp_path / "b.csv", [good_row], list(good_row))
    with pytest.raises(StoreError, match="borrower"):
        store.import_csv(schema, tmp_path / "b.csv")


def test_checkpoint_requests_are_satisfied_only_by_later_records(tmp_path):
    store = Store.open(tmp_path / "s.db")
    store.record_events([(1, A, 10, 0, "0x01"), (2, B, 10, 1, "0x01")],
                        [(A, 10, 0, 100, 200, 0)], cursor=10)
    assert {r["loan_id"] for r in store.pending_requests()} == {1, 2}  # record came before
    # the same range again (crash before the cursor moved) is harmless
    store.record_events([(1, A, 10, 0, "0x01")], [], cursor=10)
    store.record_events([(3, A, 11, 0, "0x02")], [(A, 12, 3, 150, 250, 1)], cursor=12)
    assert store.get_cursor() == 12
    assert [r["loan_id"] for r in store.pending_requests()] == [2]
    assert store.request_status(1) == "recorded" and store.request_status(3) == "recorded"


def test_submissions_survive_reopen_and_siblings_are_replaced(tmp_path):
    path = tmp_path / "s.db"
    store = Store.open(path)
    for h, fee in (("0xaa", 1), ("0xbb", 2)):
        store.add_submission(Submission(h, 7, "submitBatch", b"raw", [1, 2],
                                        [{"borrower": A}], fee, "inflight", 5, 0.0))
    store.close()
    store = Store.open(path)
    assert [s.tx_hash for s in store.inflight()] == ["0xaa", "0xbb"]
    store.set_submission_status("0xbb", "confirmed", 9, nonce_siblings=True)
    assert store.inflight() == []
    assert {s["tx_hash"]: s["status"] for s in store.submissions()} == {
        "0xaa": "replaced", "0xbb": "confirmed"}


def test_a_feature_read_does_not_wait_for_a_writer_holding_the_store(tmp_path, schema, good_row):
    """The pull path reads features on its own read-only connection: a writer that holds the
    store's lock (as during a busy SQLite wait) does not hold up the read."""
    import threading

    store = Store.open(tmp_path / "s.db")
    store.put_features(schema, "0x" + "ab" * 20, good_row)
    got = []

    def read():
        got.append(store.get_features("0x" + "ab" * 20).address)

    with store._lock:  # the daemon's writer, mid-transaction
        store._conn.execute("BEGIN IMMEDIATE")
        t = threading.Thread(target=read)
        t.start()
        t.join(timeout=5)
        store._conn.execute("ROLLBACK")
    assert got == [to_checksum_address("0x" + "ab" * 20)], "the read waited for the writer"
    store.close()
