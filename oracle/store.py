"""SQLite store: borrower features (validated, salted) and the daemon's checkpoint.

One file per node. Schema-versioned: `schema_migrations` records every migration applied, and
`Store.open` applies the missing ones in order inside a transaction. WAL mode, so the CLI can
import features while `oracle serve` reads them.

Checkpoint tables (what makes a restart resume exactly):
* `cursor` — the last block whose events were fully processed;
* `requests` — every ScoreRequested seen, `pending` until a ScoreRecorded for that borrower
  appears after it on chain (then `done`, with the block);
* `submissions` — every transaction this node signed, written *before* it is broadcast (tx hash,
  account nonce, raw signed bytes, the loan ids and attestations it carries), so that after a crash
  the node re-broadcasts or waits for the same transaction instead of building a second one.
"""

from __future__ import annotations

import csv
import json
import os
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
from eth_utils import is_hex_address, to_checksum_address

from oracle import commitment
from oracle.scoring import FeatureValidationError, schema_hash_hex, validate_row
from oracle.typed_data import checksum

MIGRATIONS: tuple[str, ...] = (
    # 1: features
    """
    CREATE TABLE borrowers (
        address TEXT PRIMARY KEY,
        schema_hash TEXT NOT NULL,
        row_json TEXT NOT NULL,
        vector BLOB NOT NULL,
        salt BLOB NOT NULL,
        features_hash BLOB NOT NULL,
        updated_at INTEGER NOT NULL
    );
    """,
    # 2: checkpoint
    """
    CREATE TABLE cursor (name TEXT PRIMARY KEY, block INTEGER NOT NULL);
    CREATE TABLE requests (
        loan_id INTEGER PRIMARY KEY,
        borrower TEXT NOT NULL,
        block INTEGER NOT NULL,
        log_index INTEGER NOT NULL,
        tx_hash TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        done_block INTEGER,
        seen_at REAL NOT NULL
    );
    CREATE INDEX requests_status ON requests(status, borrower);
    CREATE TABLE submissions (
        tx_hash TEXT PRIMARY KEY,
        account_nonce INTEGER NOT NULL,
        kind TEXT NOT NULL,
        raw_tx BLOB NOT NULL,
        loan_ids TEXT NOT NULL,
        attestations TEXT NOT NULL,
        max_fee INTEGER NOT NULL,
        status TEXT NOT NULL DEFAULT 'inflight',
        sent_block INTEGER NOT NULL,
        sent_at REAL NOT NULL,
        mined_block INTEGER
    );
    CREATE INDEX submissions_status ON submissions(status);
    """,
    # 3: latest recorded score per borrower
    """
    CREATE TABLE scores (
        borrower TEXT PRIMARY KEY,
        issued_at INTEGER NOT NULL,
        valid_until INTEGER NOT NULL,
        nonce INTEGER NOT NULL,
        block INTEGER NOT NULL
    );
    """,
)


class StoreError(Exception):
    pass


class UnknownBorrower(StoreError):
    pass


@dataclass(frozen=True)
class BorrowerFeatures:
    address: str
    schema_hash: str
    row_json: str
    vector: np.ndarray
    salt: bytes
    features_hash: bytes

    @property
    def row(self) -> dict:
        return json.loads(self.row_json)


@dataclass(frozen=True)
class ImportReport:
    imported: int
    errors: list[tuple[int, str]]  # (CSV line number, message)


@dataclass(frozen=True)
class Submission:
    tx_hash: str
    account_nonce: int
    kind: str
    raw_tx: bytes
    loan_ids: list[int]
    attestations: list[dict]
    max_fee: int
    status: str
    sent_block: int
    sent_at: float


class Store:
    def __init__(self, conn: sqlite3.Connection, path: str) -> None:
        self._conn = conn
        self._lock = threading.RLock()
        self.path = path
        self._readers = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()  # not the store's lock: a reader never waits on it

    @classmethod
    def open(cls, path: str | Path) -> "Store":
        path = str(path)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            # Borrowers' features and salts: readable by the node's owner only (SQLite gives its
            # -wal and -shm files the database file's permissions); a store made before is tightened.
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
            os.chmod(path, 0o600)
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")  # the checkpoint must survive kill -9
        store = cls(conn, path)
        store._migrate()
        return store

    def close(self) -> None:
        with self._lock, self._readers_lock:
            for conn in self._reader_conns:
                conn.close()
            self._conn.close()

    def _reader(self) -> sqlite3.Connection | None:
        """This thread's read-only connection (None for an in-memory store). Feature reads on the
        pull and co-signing paths use it without the store's lock: under WAL they read while the
        daemon writes, and none of them waits for the lock while a writer sits in a busy SQLite
        wait (up to the 30 s timeout)."""
        if self.path == ":memory:":
            return None
        conn = getattr(self._readers, "conn", None)
        if conn is None:
            conn = sqlite3.connect(Path(self.path).resolve().as_uri() + "?mode=ro", uri=True,
                                   check_same_thread=False, timeout=30)
            self._readers.conn = conn
            with self._readers_lock:
                self._reader_conns.append(conn)
        return conn

    def _migrate(self) -> None:
        with self._lock:
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)"
            )
            current = self.schema_version()
            for version, sql in enumerate(MIGRATIONS, start=1):
                if version <= current:
                    continue
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    for stmt in filter(str.strip, sql.split(";")):
                        self._conn.execute(stmt)
                    self._conn.execute(
                        "INSERT INTO schema_migrations VALUES (?, ?)", (version, int(time.time()))
                    )
                    self._conn.execute("COMMIT")
                except Exception:
                    self._conn.execute("ROLLBACK")
                    raise

    def schema_version(self) -> int:
        row = self._conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
        return row[0] or 0

    # --- features --------------------------------------------------------------------------------
    def put_features(self, schema: Mapping[str, Any], address: str, row: Mapping[str, Any],
                     salt: bytes | None = None) -> BorrowerFeatures:
        """Validate `row` against `schema` and store it; keeps the borrower's salt unless given."""
        if not isinstance(address, str) or not is_hex_address(address):
            raise FeatureValidationError("borrower", f"not an address: {address!r}")
        address = to_checksum_address(address)
        vector = validate_row(schema, row)
        shash = schema_hash_hex(schema)
        with self._lock:
            if salt is None:
                old = self._conn.execute(
                    "SELECT salt FROM borrowers WHERE address = ?", (address,)
                ).fetchone()
                salt = old[0] if old else secrets.token_bytes(32)
            fhash = commitment.features_hash(shash, salt, vector)
            self._conn.execute(
                "INSERT OR REPLACE INTO borrowers VALUES (?, ?, ?, ?, ?, ?, ?)",
                (address, shash, json.dumps(dict(row), sort_keys=True), vector.tobytes(), salt,
                 fhash, int(time.time())),
            )
        return BorrowerFeatures(address, shash, json.dumps(dict(row), sort_keys=True), vector,
                                salt, fhash)

    def get_features(self, address: str) -> BorrowerFeatures:
        try:
            address = checksum(address)
        except (ValueError, TypeError):
            raise UnknownBorrower(f"not an address: {address!r}") from None
        query = ("SELECT schema_hash, row_json, vector, salt, features_hash FROM borrowers "
                 "WHERE address = ?")
        reader = self._reader()
        if reader is not None:
            row = reader.execute(query, (address,)).fetchone()
        else:
            with self._lock:
                row = self._conn.execute(query, (address,)).fetchone()
        if row is None:
            raise UnknownBorrower(f"no features stored for borrower {address}")
        return BorrowerFeatures(address, row[0], row[1],
                                np.frombuffer(row[2], dtype=np.float32), row[3], row[4])

    def borrowers(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._conn.execute("SELECT address FROM borrowers ORDER BY 1")]

    def count_not_under_schema(self, schema_hash: str) -> int:
        """How many borrowers' stored features were validated against another schema (a model
        with `schema_hash` could not score them)."""
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM borrowers WHERE schema_hash != ?",
                                          (schema_hash,)).fetchone()[0])

    def import_csv(self, schema: Mapping[str, Any], path: str | Path) -> ImportReport:
        """Import a CSV (columns: `borrower`, optional `salt` as 0x-hex 32 bytes, then features).

        Empty cells are missing values (the schema's missing policy applies); numbers are parsed
        as int when integral-looking, else float, and category cells are kept as strings. Every row
        is validated; bad rows are reported with their line number and not stored. All good rows
        are written in one transaction.
        """
        names = {f["name"]: f for f in schema["features"]}
        errors: list[tuple[int, str]] = []
        good: list[tuple[str, dict, bytes | None]] = []
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames is None or "borrower" not in reader.fieldnames:
                raise StoreError(f"{path}: CSV needs a 'borrower' column")
            unknown = [c for c in reader.fieldnames if c not in names and c not in ("borrower", "salt")]
            if unknown:
                raise StoreError(f"{path}: unknown columns {unknown}")
            for lineno, rec in enumerate(reader, start=2):
                try:
                    addr = rec.get("borrower") or ""
                    if not is_hex_address(addr):
                        raise FeatureValidationError("borrower", f"not an address: {addr!r}")
                    salt = _parse_salt(rec.get("salt"))
                    row = {k: _parse_cell(names[k], v) for k, v in rec.items()
                           if k in names}
                    validate_row(schema, row)
                    good.append((addr, row, salt))
                except (FeatureValidationError, ValueError) as exc:
                    errors.append((lineno, str(exc)))
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for addr, row, salt in good:
                    self.put_features(schema, addr, row, salt)
                self._conn.execute("COMMIT")
            except Exception:
                self._conn.execute("ROLLBACK")
                raise
        return ImportReport(len(good), errors)

    # --- checkpoint ----------------------------------------------------------------------------
    def get_cursor(self, name: str = "requests") -> int | None:
        with self._lock:
            row = self._conn.execute("SELECT block FROM cursor WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def record_events(self, requests: Iterable[tuple[int, str, int, int, str]],
                      recorded: Iterable[tuple[str, int, int, int, int, int]], cursor: int | None,
                      name: str = "requests") -> None:
        """Atomically: add new requests, mark requests satisfied by ScoreRecorded events, keep the
        latest score per borrower, move the cursor. `requests`: (loan_id, borrower, block,
        log_index, tx_hash); `recorded`: (borrower, block, log_index, issuedAt, validUntil,
        nonce), in chain order."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                now = time.time()
                for loan_id, borrower, block, log_index, tx_hash in requests:
                    self._conn.execute(
                        "INSERT OR IGNORE INTO requests (loan_id, borrower, block, log_index, "
                        "tx_hash, seen_at) VALUES (?, ?, ?, ?, ?, ?)",
                        (loan_id, borrower, block, log_index, tx_hash, now),
                    )
                for borrower, block, log_index, issued_at, valid_until, nonce in recorded:
                    self._conn.execute(
                        "INSERT INTO scores VALUES (?, ?, ?, ?, ?) ON CONFLICT(borrower) DO UPDATE "
                        "SET issued_at = excluded.issued_at, valid_until = excluded.valid_until, "
                        "nonce = excluded.nonce, block = excluded.block "
                        "WHERE excluded.nonce >= scores.nonce",
                        (borrower, issued_at, valid_until, nonce, block),
                    )
                    self._conn.execute(
                        "UPDATE requests SET status = 'done', done_block = ? WHERE status = "
                        "'pending' AND borrower = ? AND (block < ? OR (block = ? AND log_index < ?))",
                        (block, borrower, block, block, log_index),
                    )
                if cursor is not None:
                    self._conn.execute(
                        "INSERT OR REPLACE INTO cursor VALUES (?, ?)", (name, cursor)
                    )
                self._conn.execute("COMMIT")
            except Exception:
                self._conn.execute("ROLLBACK")
                raise

    def mark_done(self, borrower: str, block: int, log_index: int) -> int:
        """Requests of `borrower` made before (block, log_index) are satisfied (from a receipt)."""
        with self._lock:
            cur = self._conn.execute(
                "UPDATE requests SET status = 'done', done_block = ? WHERE status = 'pending' AND "
                "borrower = ? AND (block < ? OR (block = ? AND log_index < ?))",
                (block, borrower, block, block, log_index),
            )
            return cur.rowcount

    def pending_requests(self) -> list[dict]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT loan_id, borrower, block, log_index, tx_hash FROM requests "
                "WHERE status = 'pending' ORDER BY block, log_index"
            ).fetchall()
        return [dict(zip(("loan_id", "borrower", "block", "log_index", "tx_hash"), r)) for r in rows]

    def request_status(self, loan_id: int) -> str | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT status FROM requests WHERE loan_id = ?", (loan_id,)).fetchone()
        return row[0] if row else None

    def add_submission(self, sub: Submission) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO submissions (tx_hash, account_nonce, kind, raw_tx, loan_ids, "
                "attestations, max_fee, status, sent_block, sent_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (sub.tx_hash, sub.account_nonce, sub.kind, sub.raw_tx, json.dumps(sub.loan_ids),
                 json.dumps(sub.attestations), sub.max_fee, sub.status, sub.sent_block,
                 sub.sent_at),
            )

    def inflight(self) -> list[Submission]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT tx_hash, account_nonce, kind, raw_tx, loan_ids, attestations, max_fee, "
                "status, sent_block, sent_at FROM submissions WHERE status = 'inflight' "
                "ORDER BY account_nonce, sent_at"
            ).fetchall()
        return [Submission(r[0], r[1], r[2], r[3], json.loads(r[4]), json.loads(r[5]), r[6], r[7],
                           r[8], r[9]) for r in rows]

    def set_submission_status(self, tx_hash: str, status: str, mined_block: int | None = None,
                              nonce_siblings: bool = False) -> None:
        """Set a submission's status; with `nonce_siblings`, every other in-flight transaction
        with the same account nonce (gas-bumped copies) becomes `replaced`."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.execute(
                    "UPDATE submissions SET status = ?, mined_block = ? WHERE tx_hash = ?",
                    (status, mined_block, tx_hash),
                )
                if nonce_siblings:
                    self._conn.execute(
                        "UPDATE submissions SET status = 'replaced' WHERE status = 'inflight' AND "
                        "account_nonce = (SELECT account_nonce FROM submissions WHERE tx_hash = ?)",
                        (tx_hash,),
                    )
                self._conn.execute("COMMIT")
            except Exception:
                self._conn.execute("ROLLBACK")
                raise

    def submissions(self) -> list[dict]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT tx_hash, account_nonce, kind, loan_ids, status, mined_block FROM submissions"
            ).fetchall()
        return [dict(zip(("tx_hash", "account_nonce", "kind", "loan_ids", "status",
                          "mined_block"), r)) for r in rows]


def _parse_salt(text: str | None) -> bytes | None:
    if text is None or text == "":
        return None
    raw = text.removeprefix("0x")
    try:
        salt = bytes.fromhex(raw)
    except ValueError:
        raise FeatureValidationError("salt", "salt is not hex") from None
    if len(salt) != 32:
        raise FeatureValidationError("salt", "salt must be 32 bytes")
    return salt


def _parse_cell(feature: Mapping[str, Any], cell: str | None) -> Any:
    """CSV text -> the Python value validate_row expects. Does not validate."""
    if cell is None or cell.strip() == "":
        return None
    cell = cell.strip()
    if feature["type"] == "category":
        return cell
    try:
        return int(cell)
    except ValueError:
        pass
    try:
        return float(cell)  # accepts 'nan'/'inf': validate_row rejects them with a clear message
    except ValueError:
        return cell  # a string: validate_row rejects it as "expected a number"
