"""SQLite store: borrower features (validated, salted) and the daemon's checkpoint.

One file per node. Schema-versioned: `schema_migrations` records every migration applied, and
`Store.open` applies the missing ones in order inside a transaction. WAL mode, so the CLI can
import features while `oracle serve` reads them.

Checkpoint tables (what makes a restart resume exactly, and a reorg rewind exactly):
* `cursor` — the last block whose events were fully processed; `blocks` — the hashes of scanned
  blocks not yet final (the cursor's among them), so a parent-hash mismatch finds the fork point;
* `requests` — every ScoreRequested seen, keyed by (request tx hash, log index): a loan id can
  go to another borrower after a reorg, a transaction hash cannot. `pending` until a ScoreRecorded
  for that borrower appears after it (`recorded`, with the record's block, block hash and tx),
  `done` only once that record's block is final and still canonical;
* `submissions` — every transaction this node signed, written *before* it is broadcast (tx hash,
  account nonce, raw signed bytes, the loan ids and attestations it carries), so that after a crash
  the node re-broadcasts or waits for the same transaction instead of building a second one.
  States (Chainlink TXM's): `unstarted` (signed, written, not yet broadcast) -> `inflight` ->
  `confirmed` (a receipt; its block hash kept) -> `finalized` (that block final and canonical);
  a confirmed transaction whose receipt disappears goes back to `inflight` and is re-broadcast.
  Copies of one account nonce that lost end `replaced`; a nonce taken by a final block with no
  copy of ours in it ends `dropped`;
* `holds` — borrowers a reorg touched (a request or a record of theirs taken back), not worked
  before a block number: the transaction that carried them, whichever node sent it, is being
  re-broadcast and lands meanwhile (then everyone stands down), or the hold runs out.
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
    # 4: reorg safety — requests keyed by (tx hash, log index), records kept with their block hash
    # and transaction until final, block hashes of the scan, transaction states with receipts'
    # block hashes. Rows of a store written before keep their meaning: a request already `done`
    # stays done, a transaction already `mined`/`reverted` is `confirmed` and its receipt is
    # re-checked until final.
    """
    CREATE TABLE requests_v4 (
        tx_hash TEXT NOT NULL,
        log_index INTEGER NOT NULL,
        loan_id INTEGER NOT NULL,
        borrower TEXT NOT NULL,
        block INTEGER NOT NULL,
        block_hash TEXT,
        status TEXT NOT NULL DEFAULT 'pending',
        done_block INTEGER,
        done_hash TEXT,
        done_tx TEXT,
        seen_at REAL NOT NULL,
        PRIMARY KEY (tx_hash, log_index)
    );
    INSERT INTO requests_v4 (tx_hash, log_index, loan_id, borrower, block, status, done_block,
                             seen_at)
        SELECT tx_hash, log_index, loan_id, borrower, block, status, done_block, seen_at
        FROM requests;
    DROP TABLE requests;
    ALTER TABLE requests_v4 RENAME TO requests;
    CREATE INDEX requests_status ON requests(status, borrower);
    CREATE INDEX requests_loan ON requests(loan_id);
    CREATE TABLE blocks (number INTEGER PRIMARY KEY, hash TEXT NOT NULL);
    ALTER TABLE submissions ADD COLUMN mined_hash TEXT;
    ALTER TABLE submissions ADD COLUMN receipt_status INTEGER;
    UPDATE submissions SET receipt_status = CASE status WHEN 'mined' THEN 1 ELSE 0 END,
                           status = 'confirmed' WHERE status IN ('mined', 'reverted');
    """,
    # 5: dead letters — a request that cannot be scored or whose transaction reverts is tried
    # again after a growing pause, and after `dead_letter_after` failures set aside as `dead`
    # with its reason (a later record of its borrower still satisfies it)
    """
    ALTER TABLE requests ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE requests ADD COLUMN next_try_at REAL;
    ALTER TABLE requests ADD COLUMN last_error TEXT;
    """,
    # 6: the latest-score table only drove the refresh of expiring scores, which is gone (the
    # registry records one score per loan request): nothing reads it any more
    """
    DROP TABLE scores;
    """,
    # 7: holds — after a reorg took a borrower's request or record, nobody but the node whose
    # transaction carried it (re-broadcast, never rebuilt) works that borrower for a failover
    # window: a second node rebuilding it at once was the duplicate that ended as ScoreSkipped
    """
    CREATE TABLE holds (borrower TEXT PRIMARY KEY, until_block INTEGER NOT NULL);
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
    mined_block: int | None = None
    mined_hash: str | None = None
    receipt_status: int | None = None


_SUB_COLS = ("tx_hash, account_nonce, kind, raw_tx, loan_ids, attestations, max_fee, status, "
             "sent_block, sent_at, mined_block, mined_hash, receipt_status")


def _submission(r: tuple) -> Submission:
    return Submission(r[0], r[1], r[2], r[3], json.loads(r[4]), json.loads(r[5]), r[6], r[7],
                      r[8], r[9], r[10], r[11], r[12])


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

    # --- checkpoint: scan ----------------------------------------------------------------------
    def get_cursor(self, name: str = "requests") -> int | None:
        with self._lock:
            row = self._conn.execute("SELECT block FROM cursor WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def record_events(self, requests: Iterable[tuple[int, str, int, int, str]],
                      recorded: Iterable[tuple], cursor: int | None,
                      name: str = "requests",
                      block_hashes: Iterable[tuple[int, str]] = ()) -> None:
        """Atomically: add new requests, mark requests satisfied by ScoreRecorded events
        `recorded`, keep the latest score per borrower, store scanned blocks' hashes, move the
        cursor. `requests`: (loan_id, borrower, block, log_index, tx_hash[, block_hash]);
        `recorded`: (borrower, block, log_index, issuedAt, validUntil, nonce[, block_hash,
        tx_hash]), in chain order."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._record(requests, recorded)
                self._conn.executemany("INSERT OR REPLACE INTO blocks VALUES (?, ?)",
                                       list(block_hashes))
                if cursor is not None:
                    self._conn.execute(
                        "INSERT OR REPLACE INTO cursor VALUES (?, ?)", (name, cursor)
                    )
                self._conn.execute("COMMIT")
            except Exception:
                self._conn.execute("ROLLBACK")
                raise

    def _record(self, requests: Iterable[tuple], recorded: Iterable[tuple]) -> None:
        now = time.time()
        for loan_id, borrower, block, log_index, tx_hash, *rest in requests:
            block_hash = rest[0] if rest else None
            # the same request re-read (a crash before the cursor moved) is harmless; a request
            # re-mined at another position after a rewind was deleted by the rewind first
            self._conn.execute(
                "INSERT OR IGNORE INTO requests (tx_hash, log_index, loan_id, borrower, block, "
                "block_hash, seen_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (tx_hash, log_index, loan_id, borrower, block, block_hash, now),
            )
        for borrower, block, log_index, _issued_at, _valid_until, _nonce, *rest in recorded:
            block_hash, tx_hash = (rest + [None, None])[:2]
            self._mark_recorded(borrower, block, log_index, block_hash, tx_hash)

    def _mark_recorded(self, borrower: str, block: int, log_index: int, block_hash: str | None,
                       tx_hash: str | None) -> int:
        # `recorded` rows are re-pointed too: a record read later is the canonical one now
        return self._conn.execute(
            "UPDATE requests SET status = 'recorded', done_block = ?, done_hash = ?, done_tx = ? "
            "WHERE status IN ('pending', 'recorded', 'dead') AND borrower = ? AND "
            "(block < ? OR (block = ? AND log_index < ?))",
            (block, block_hash, tx_hash, borrower, block, block, log_index),
        ).rowcount

    def mark_recorded(self, borrower: str, block: int, log_index: int,
                      block_hash: str | None = None, tx_hash: str | None = None) -> int:
        """Requests of `borrower` made before (block, log_index) have a record there (from a
        receipt or a look past the cursor); they become `done` when that block is final."""
        with self._lock:
            return self._mark_recorded(borrower, block, log_index, block_hash, tx_hash)

    def mark_done(self, borrower: str, block: int, log_index: int) -> int:
        """Alias of `mark_recorded` without hashes (kept for callers of the old name)."""
        return self.mark_recorded(borrower, block, log_index)

    def block_hashes(self) -> list[tuple[int, str]]:
        """Stored (number, hash) of scanned blocks, newest first."""
        with self._lock:
            return [(r[0], r[1]) for r in self._conn.execute(
                "SELECT number, hash FROM blocks ORDER BY number DESC")]

    def block_hash(self, number: int) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT hash FROM blocks WHERE number = ?",
                                     (number,)).fetchone()
        return row[0] if row else None

    def rewind(self, fork_block: int, name: str = "requests",
               hold_until: int | None = None) -> dict[str, int]:
        """A reorg replaced the blocks after `fork_block`: forget what was read from them.
        Requests seen there are deleted (the scan reads the canonical ones again), requests
        whose record was there go back to `pending`, their block hashes go, and the cursor moves
        back to `fork_block`. `done` requests are final and stay. With `hold_until`, every
        borrower touched is held until that block (see `holds`). Returns counts."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                if hold_until is not None:
                    self._hold(hold_until, "SELECT DISTINCT borrower FROM requests WHERE status "
                               "!= 'done' AND (block > ? OR done_block > ?)",
                               (fork_block, fork_block))
                dropped = self._conn.execute(
                    "DELETE FROM requests WHERE block > ? AND status != 'done'",
                    (fork_block,)).rowcount
                reopened = self._conn.execute(
                    "UPDATE requests SET status = 'pending', done_block = NULL, done_hash = NULL, "
                    "done_tx = NULL WHERE status = 'recorded' AND done_block > ?",
                    (fork_block,)).rowcount
                self._conn.execute("DELETE FROM blocks WHERE number > ?", (fork_block,))
                self._conn.execute("UPDATE cursor SET block = ? WHERE name = ? AND block > ?",
                                   (fork_block, name, fork_block))
                self._conn.execute("COMMIT")
            except Exception:
                self._conn.execute("ROLLBACK")
                raise
        return {"requests_dropped": dropped, "requests_reopened": reopened}

    def prune_blocks(self, below: int) -> None:
        """Forget block hashes under `below` (final: no reorg reaches them)."""
        with self._lock:
            self._conn.execute("DELETE FROM blocks WHERE number < ?", (below,))

    def records_to_settle(self, final_block: int) -> list[tuple[int, str | None]]:
        """Distinct (block, hash) of records of `recorded` requests in final blocks."""
        with self._lock:
            return [(r[0], r[1]) for r in self._conn.execute(
                "SELECT DISTINCT done_block, done_hash FROM requests WHERE status = 'recorded' "
                "AND done_block <= ? ORDER BY done_block", (final_block,))]

    def settle_records(self, canonical: Mapping[int, str],
                       hold_until: int | None = None) -> dict[str, int]:
        """`canonical`: block number -> canonical hash of final blocks. A `recorded` request whose
        record's block is among them is `done` if the hash matches, else `pending` again (its
        record was in a block a reorg replaced; with `hold_until` its borrower is held until
        that block). A record without a hash (marked before migration 4) is trusted."""
        done = reopened = 0
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for number, block_hash in canonical.items():
                    if hold_until is not None:
                        self._hold(hold_until, "SELECT DISTINCT borrower FROM requests WHERE "
                                   "status = 'recorded' AND done_block = ? AND done_hash IS NOT "
                                   "NULL AND done_hash != ?", (number, block_hash))
                    done += self._conn.execute(
                        "UPDATE requests SET status = 'done' WHERE status = 'recorded' AND "
                        "done_block = ? AND (done_hash IS NULL OR done_hash = ?)",
                        (number, block_hash)).rowcount
                    reopened += self._conn.execute(
                        "UPDATE requests SET status = 'pending', done_block = NULL, "
                        "done_hash = NULL, done_tx = NULL WHERE status = 'recorded' AND "
                        "done_block = ?", (number,)).rowcount
                self._conn.execute("COMMIT")
            except Exception:
                self._conn.execute("ROLLBACK")
                raise
        return {"done": done, "reopened": reopened}

    def _hold(self, until_block: int, borrowers_sql: str, args: tuple) -> None:
        """Hold the borrowers the query names until `until_block` (a later hold wins). Called
        inside the caller's transaction."""
        self._conn.execute(
            "INSERT INTO holds (borrower, until_block) SELECT borrower, ? FROM "
            f"({borrowers_sql}) WHERE true ON CONFLICT(borrower) DO UPDATE SET until_block = "
            "max(until_block, excluded.until_block)", (until_block, *args))

    def held(self, head: int) -> set[str]:
        """Borrowers held past `head`; holds that ran out are dropped."""
        with self._lock:
            self._conn.execute("DELETE FROM holds WHERE until_block <= ?", (head,))
            return {r[0] for r in self._conn.execute("SELECT borrower FROM holds")}

    def pending_requests(self, now: float | None = None) -> list[dict]:
        """Pending requests in chain order, less those waiting out a back-off (`defer`): a
        request that keeps failing never takes the places of newer ones."""
        now = time.time() if now is None else now
        with self._lock:
            rows = self._conn.execute(
                "SELECT loan_id, borrower, block, log_index, tx_hash FROM requests "
                "WHERE status = 'pending' AND (next_try_at IS NULL OR next_try_at <= ?) "
                "ORDER BY block, log_index", (now,)
            ).fetchall()
        return [dict(zip(("loan_id", "borrower", "block", "log_index", "tx_hash"), r)) for r in rows]

    def defer(self, borrower: str, reason: str, backoff_s: float, dead_after: int,
              now: float | None = None) -> dict[str, int]:
        """The borrower's pending requests failed once more (cannot be scored, or their
        transaction reverted): try again after `backoff_s` x 2^(failures-1), and after
        `dead_after` failures set them aside as `dead` with `reason`. Returns counts."""
        now = time.time() if now is None else now
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.execute(
                    "UPDATE requests SET attempts = attempts + 1, last_error = ?, "
                    "next_try_at = ? + ? * (1 << MIN(attempts, 20)) "
                    "WHERE status = 'pending' AND borrower = ?",
                    (reason[:500], now, backoff_s, borrower))
                dead = self._conn.execute(
                    "UPDATE requests SET status = 'dead' WHERE status = 'pending' AND "
                    "borrower = ? AND attempts >= ?", (borrower, dead_after)).rowcount
                deferred = self._conn.execute(
                    "SELECT COUNT(*) FROM requests WHERE status = 'pending' AND borrower = ?",
                    (borrower,)).fetchone()[0]
                self._conn.execute("COMMIT")
            except Exception:
                self._conn.execute("ROLLBACK")
                raise
        return {"deferred": deferred, "dead": dead}

    def dead_letters(self) -> list[dict]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT loan_id, borrower, block, tx_hash, log_index, attempts, last_error "
                "FROM requests WHERE status = 'dead' ORDER BY block, log_index").fetchall()
        return [dict(zip(("loan_id", "borrower", "block", "tx_hash", "log_index", "attempts",
                          "last_error"), r)) for r in rows]

    def request_status(self, loan_id: int) -> str | None:
        """Status of the latest request seen with this loan id (a loan id is not a key: see
        `request_status_of`)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT status FROM requests WHERE loan_id = ? ORDER BY block DESC LIMIT 1",
                (loan_id,)).fetchone()
        return row[0] if row else None

    def request_status_of(self, tx_hash: str, log_index: int) -> str | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT status FROM requests WHERE tx_hash = ? AND log_index = ?",
                (tx_hash, log_index)).fetchone()
        return row[0] if row else None

    def request_counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._conn.execute(
                "SELECT status, COUNT(*) FROM requests GROUP BY status").fetchall())

    # --- checkpoint: transactions --------------------------------------------------------------
    def add_submission(self, sub: Submission) -> None:
        with self._lock:
            self._conn.execute(
                f"INSERT INTO submissions ({_SUB_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (sub.tx_hash, sub.account_nonce, sub.kind, sub.raw_tx, json.dumps(sub.loan_ids),
                 json.dumps(sub.attestations), sub.max_fee, sub.status, sub.sent_block,
                 sub.sent_at, sub.mined_block, sub.mined_hash, sub.receipt_status),
            )

    def _subs(self, where: str, args: tuple = ()) -> list[Submission]:
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_SUB_COLS} FROM submissions WHERE {where} "
                "ORDER BY account_nonce, sent_at", args).fetchall()
        return [_submission(r) for r in rows]

    def inflight(self) -> list[Submission]:
        """Transactions not yet in a block (written ahead, or broadcast)."""
        return self._subs("status IN ('unstarted', 'inflight')")

    def open_nonces(self) -> set[int]:
        """Account nonces held by this node's transactions not yet in a block."""
        with self._lock:
            return {r[0] for r in self._conn.execute(
                "SELECT DISTINCT account_nonce FROM submissions WHERE status IN "
                "('unstarted', 'inflight')")}

    def confirmed(self) -> list[Submission]:
        """Transactions with a receipt whose block is not yet final."""
        return self._subs("status = 'confirmed'")

    def set_submission_status(self, tx_hash: str, status: str, mined_block: int | None = None,
                              nonce_siblings: bool = False, mined_hash: str | None = None,
                              receipt_status: int | None = None) -> None:
        """Set a submission's status; with `nonce_siblings`, every other open transaction with
        the same account nonce (gas-bumped copies) becomes `replaced`."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.execute(
                    "UPDATE submissions SET status = ?, mined_block = COALESCE(?, mined_block), "
                    "mined_hash = COALESCE(?, mined_hash), "
                    "receipt_status = COALESCE(?, receipt_status) WHERE tx_hash = ?",
                    (status, mined_block, mined_hash, receipt_status, tx_hash),
                )
                if nonce_siblings:
                    self._conn.execute(
                        "UPDATE submissions SET status = 'replaced' WHERE status IN "
                        "('unstarted', 'inflight') AND tx_hash != ? AND account_nonce = "
                        "(SELECT account_nonce FROM submissions WHERE tx_hash = ?)",
                        (tx_hash, tx_hash),
                    )
                self._conn.execute("COMMIT")
            except Exception:
                self._conn.execute("ROLLBACK")
                raise

    def mark_broadcast(self, tx_hash: str) -> None:
        """`unstarted` -> `inflight` once the RPC accepted the bytes (or already had them)."""
        with self._lock:
            self._conn.execute("UPDATE submissions SET status = 'inflight' WHERE tx_hash = ? "
                               "AND status = 'unstarted'", (tx_hash,))

    def reorged_out(self, tx_hash: str, head: int) -> int:
        """A confirmed transaction's receipt disappeared: it and its `replaced` copies are in
        flight again (any of them may be mined now; its stuck clock restarts at `head`), and
        the requests its records had satisfied are `pending` again. Returns how many requests
        were reopened."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.execute(
                    "UPDATE submissions SET status = 'inflight', mined_block = NULL, "
                    "mined_hash = NULL, receipt_status = NULL, sent_block = ? WHERE tx_hash = ?",
                    (head, tx_hash))
                self._conn.execute(
                    "UPDATE submissions SET status = 'inflight' WHERE status = 'replaced' AND "
                    "account_nonce = (SELECT account_nonce FROM submissions WHERE tx_hash = ?)",
                    (tx_hash,))
                reopened = self._conn.execute(
                    "UPDATE requests SET status = 'pending', done_block = NULL, done_hash = NULL, "
                    "done_tx = NULL WHERE status = 'recorded' AND done_tx = ?",
                    (tx_hash,)).rowcount
                self._conn.execute("COMMIT")
            except Exception:
                self._conn.execute("ROLLBACK")
                raise
        return reopened

    def submissions(self) -> list[dict]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT tx_hash, account_nonce, kind, loan_ids, status, mined_block, "
                "receipt_status FROM submissions"
            ).fetchall()
        return [dict(zip(("tx_hash", "account_nonce", "kind", "loan_ids", "status",
                          "mined_block", "receipt_status"), r)) for r in rows]


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
