"""The chain edge: reads (retried, they are idempotent), the transaction machine and its parts.

Transaction sending is a small explicit machine (STYLE 9):
* `NonceAllocator` — one lock, seeded from the pending transaction count, re-seeded on a nonce
  error;
* `GasStrategy` — EIP-1559 fees from the latest base fee, capped; a bump of `gas_bump_percent` for
  a transaction stuck `stuck_after_blocks` blocks, never above the cap;
* `CircuitBreaker` — opens after `breaker_failures` consecutive failures, lets one attempt through
  after `breaker_cooldown_s`;
* `TxSender` — signs, writes the signed transaction to the checkpoint *before* broadcasting it,
  broadcasts (re-broadcasting the same bytes is idempotent, so that is retried), and later
  resolves each in-flight transaction: mined, still pending (bump when stuck) or superseded.
Every step logs one JSON line naming the tx kind, account nonce and hash.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Callable, TypeVar

from eth_abi import encode as abi_encode
from eth_account import Account
from eth_hash.auto import keccak
from eth_utils import to_checksum_address
from web3 import HTTPProvider, Web3
from web3.exceptions import TransactionNotFound

from oracle.abi import load_abi
from oracle.keys import Signer
from oracle.rpc_quirks import ReceiptRaceRetry
from oracle.settings import TX_BASE_GAS, Settings
from oracle.store import Store, Submission
from oracle.typed_data import ATTESTATION_FIELDS, ScoreAttestation, checksum

log = logging.getLogger("oracle.chain")
T = TypeVar("T")


class ChainError(Exception):
    pass


class CircuitOpen(ChainError):
    pass


def retry(fn: Callable[[], T], *, attempts: int = 5, base_delay: float = 0.2,
          max_delay: float = 5.0, what: str = "rpc call",
          stop: threading.Event | None = None) -> T:
    """Call `fn` with exponential backoff and jitter. Only for idempotent calls (reads,
    re-broadcasting identical signed bytes)."""
    delay = base_delay
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except Exception as exc:  # web3 raises many types (requests, ValueError, Web3RPCError)
            if attempt == attempts or (stop is not None and stop.is_set()):
                raise
            log.warning("retrying", extra={"what": what, "attempt": attempt, "error": str(exc)})
            time.sleep(delay * (0.5 + random.random() / 2))
            delay = min(delay * 2, max_delay)
    raise AssertionError("unreachable")


class CircuitBreaker:
    def __init__(self, failures: int, cooldown_s: float) -> None:
        self.threshold = failures
        self.cooldown_s = cooldown_s
        self.failures = 0
        self.opened_at: float | None = None
        self._lock = threading.Lock()

    @property
    def state(self) -> str:
        with self._lock:
            if self.opened_at is None:
                return "closed"
            if time.monotonic() - self.opened_at >= self.cooldown_s:
                return "half-open"
            return "open"

    def allow(self) -> bool:
        return self.state != "open"

    def success(self) -> None:
        with self._lock:
            self.failures = 0
            self.opened_at = None

    def failure(self) -> None:
        with self._lock:
            self.failures += 1
            if self.failures >= self.threshold:
                if self.opened_at is None:
                    log.error("circuit breaker opened", extra={"failures": self.failures})
                self.opened_at = time.monotonic()


class NonceAllocator:
    """Hands out account nonces under a lock; seeded from the chain's pending count."""

    def __init__(self, fetch_pending: Callable[[], int]) -> None:
        self._fetch = fetch_pending
        self._lock = threading.Lock()
        self._next: int | None = None

    def allocate(self) -> int:
        with self._lock:
            if self._next is None:
                self._next = self._fetch()
            n = self._next
            self._next += 1
            return n

    def reset(self) -> None:
        with self._lock:
            self._next = None


@dataclass(frozen=True)
class Fees:
    max_fee: int
    priority_fee: int


class GasStrategy:
    def __init__(self, cap_wei: int, priority_wei: int, bump_percent: int) -> None:
        self.cap = cap_wei
        self.priority = priority_wei
        self.bump_percent = bump_percent

    def initial(self, base_fee: int) -> Fees:
        priority = min(self.priority, self.cap)
        return Fees(min(self.cap, 2 * base_fee + priority), priority)

    def bump(self, fees: Fees) -> Fees | None:
        """Fees for a replacement (both raised by at least bump_percent), or None at the cap."""
        max_fee = fees.max_fee * (100 + self.bump_percent) // 100 + 1
        priority = fees.priority_fee * (100 + self.bump_percent) // 100 + 1
        if max_fee > self.cap:
            return None
        return Fees(max_fee, min(priority, max_fee))


class Chain:
    """Web3 client bound to the Scorechain contracts."""

    def __init__(self, settings: Settings, w3: Web3 | None = None) -> None:
        settings.require("rpc_url", "registry_address")
        self.settings = settings
        self.w3 = w3 or Web3(HTTPProvider(
            settings.rpc_url, request_kwargs={"timeout": settings.rpc_timeout_s},
            exception_retry_configuration=None,  # retries are ours, and only for idempotent calls
        ))
        if w3 is None:
            self.w3.middleware_onion.inject(ReceiptRaceRetry, layer=0)
        self.registry = self.w3.eth.contract(
            address=settings.registry_address,
            abi=load_abi("CreditScoreRegistry", settings.abi_dir),
        )
        self._model_registry = None
        self.loan_manager = None
        if settings.loan_manager_address:
            self.loan_manager = self.w3.eth.contract(
                address=settings.loan_manager_address,
                abi=load_abi("LoanManager", settings.abi_dir),
            )
        self._chain_id: int | None = None
        self._configs: dict[bytes, tuple[list[str], int]] = {}  # digest -> (signers, threshold)
        self._head: tuple[int, int, int, float] | None = None  # see _latest
        self._head_lock = threading.Lock()

    # --- reads (idempotent: retried) ------------------------------------------------------------
    def _r(self, fn: Callable[[], T], what: str, attempts: int = 3) -> T:
        return retry(fn, attempts=attempts, what=what)

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            cid = self._r(lambda: self.w3.eth.chain_id, "eth_chainId")
            if self.settings.chain_id is not None and cid != self.settings.chain_id:
                raise ChainError(f"RPC chain id {cid} != configured ORACLE_CHAIN_ID "
                                 f"{self.settings.chain_id}")
            self._chain_id = cid
        return self._chain_id

    @property
    def model_registry(self):
        if self._model_registry is None:
            address = self.settings.model_registry_address or self._r(
                lambda: self.registry.functions.modelRegistry().call(), "modelRegistry")
            self._model_registry = self.w3.eth.contract(
                address=to_checksum_address(address),
                abi=load_abi("ModelRegistry", self.settings.abi_dir),
            )
        return self._model_registry

    def is_approved(self, model_id: bytes) -> bool:
        return bool(self._r(lambda: self.model_registry.functions.isApproved(model_id).call(),
                            "isApproved"))

    def nonce_of(self, borrower: str, block: int | str = "latest") -> int:
        """The borrower's next attestation nonce, now or right after `block`."""
        return int(self._r(lambda: self.registry.functions.nonces(borrower).call(
            block_identifier=block), "nonces"))

    def nonces_of(self, borrowers: list[str], block: int | str = "latest") -> dict[str, int]:
        """`nonces(b)` for many borrowers at one block, in one JSON-RPC batch."""
        return dict(zip(borrowers, self.nonces_at([(b, block) for b in borrowers])))

    def nonces_at(self, pairs: list[tuple[str, int | str]]) -> list[int]:
        """`nonces(borrower)` at each (borrower, block) in one JSON-RPC batch (idempotent:
        retried)."""
        if not pairs:
            return []
        # Calldata by hand: web3's encode_abi re-resolves the ABI on every call (~1 ms each; it
        # was the largest cost of a co-signing node under load).
        calls = [("eth_call", [{"to": self.registry.address,
                                "data": NONCES_SELECTOR_HEX + _address_word(b)},
                               hex(blk) if isinstance(blk, int) else blk])
                 for b, blk in pairs]

        def run() -> list[int]:
            responses = self.w3.provider.make_batch_request(calls)
            if not isinstance(responses, list) or len(responses) != len(calls):
                raise ChainError(f"batch eth_call failed: {responses}")
            out = []
            for (b, _), r in zip(pairs, sorted(responses, key=lambda r: r["id"])):
                if "error" in r:
                    raise ChainError(f"eth_call nonces({b}) failed: {r['error']}")
                res = r["result"]
                out.append(int(res, 16) if isinstance(res, str) else int.from_bytes(bytes(res),
                                                                                    "big"))
            return out

        return self._r(run, "eth_call batch nonces")

    def score_requested(self, borrower: str) -> bool:
        """Whether the borrower has an open loan request (a request since their last record)."""
        return self.scores_requested([borrower])[borrower]

    def scores_requested(self, borrowers: list[str]) -> dict[str, bool]:
        """`scoreRequested(b)` for many borrowers in one JSON-RPC batch (idempotent: retried)."""
        if not borrowers:
            return {}
        calls = [("eth_call", [{"to": self.registry.address,
                                "data": SCORE_REQUESTED_SELECTOR_HEX + _address_word(b)}, "latest"])
                 for b in borrowers]

        def run() -> dict[str, bool]:
            responses = self.w3.provider.make_batch_request(calls)
            if not isinstance(responses, list) or len(responses) != len(calls):
                raise ChainError("batch eth_call scoreRequested failed")
            out = {}
            for b, r in zip(borrowers, sorted(responses, key=lambda r: r["id"])):
                if "error" in r:
                    raise ChainError(f"eth_call scoreRequested({b}) failed: {r['error']}")
                res = r["result"]
                out[b] = (int(res, 16) if isinstance(res, str)
                          else int.from_bytes(bytes(res), "big")) != 0
            return out

        return self._r(run, "eth_call batch scoreRequested")

    def config_digest(self, block: int | str = "latest") -> bytes:
        return bytes(self._r(lambda: self.registry.functions.configDigest().call(
            block_identifier=block), "configDigest"))

    def signer_config(self) -> tuple[list[str], int, bytes]:
        """(signers, threshold, configDigest) read at one block, so the three agree."""
        block = self.head()[0]
        fns = self.registry.functions
        signers = list(self._r(lambda: fns.signers().call(block_identifier=block), "signers"))
        digest = self.config_digest(block)
        return signers, int.from_bytes(digest[:2], "big"), digest

    def hash_attestation(self, att: ScoreAttestation) -> bytes:
        return bytes(self._r(lambda: self.registry.functions.hashAttestation(att.as_tuple()).call(),
                             "hashAttestation"))

    def hash_report(self, config_digest: bytes, entries: list[ScoreAttestation]) -> bytes:
        return bytes(self._r(lambda: self.registry.functions.hashReport(
            config_digest, [e.entry_tuple() for e in entries]).call(), "hashReport"))

    def _latest(self, max_age_s: float) -> tuple[int, int, int, float]:
        """(number, timestamp, gas limit, fetched monotonic) of the latest block, cached."""
        with self._head_lock:
            if self._head is not None and time.monotonic() - self._head[3] < max_age_s:
                return self._head
        block = self._r(lambda: self.w3.eth.get_block("latest"), "eth_getBlockByNumber")
        latest = (int(block["number"]), int(block["timestamp"]),
                  int(block.get("gasLimit", 0) or 0), time.monotonic())
        with self._head_lock:
            self._head = latest
        return latest

    def head(self, max_age_s: float = 0.5) -> tuple[int, int]:
        """(latest block number, its timestamp), cached for `max_age_s`."""
        number, timestamp, _, _ = self._latest(max_age_s)
        return number, timestamp

    def block_gas_limit(self, max_age_s: float = 0.5) -> int:
        """The latest block's gas limit (0 if the chain does not say), cached like `head`."""
        return self._latest(max_age_s)[2]

    def now(self) -> int:
        """The oracle clock: the latest block's timestamp (see oracle.attest)."""
        return self.head()[1]

    def base_fee(self) -> int:
        block = self._r(lambda: self.w3.eth.get_block("latest"), "eth_getBlockByNumber")
        return int(block.get("baseFeePerGas", 0) or 0)

    def _logs(self, address: str, from_block: int | str, to_block: int | str,
              topics: list[str], what: str) -> list[dict]:
        """Raw eth_getLogs (idempotent: retried). web3's own get_logs formats every field of every
        log (~0.4 ms a log): a backlog of hundreds of logs cost a node most of a second."""
        params = {"address": address, "fromBlock": _block_param(from_block),
                  "toBlock": _block_param(to_block), "topics": topics}

        def run() -> list[dict]:
            response = self.w3.provider.make_request("eth_getLogs", [params])
            if "error" in response:
                raise ChainError(f"{what} failed: {response['error']}")
            return response["result"]

        return self._r(run, what)

    def score_requests(self, from_block: int, to_block: int | str) -> list:
        """ScoreRequested logs, decoded by hand (web3's event decoding costs ~ms per log)."""
        if self.loan_manager is None:
            return []
        logs = self._logs(self.loan_manager.address, from_block, to_block,
                          [SCORE_REQUESTED_TOPIC], "eth_getLogs ScoreRequested")
        return [_event(log, loanId=int.from_bytes(_bytes(log["topics"][1]), "big"),
                       borrower=_topic_address(log["topics"][2])) for log in logs]

    def score_recorded(self, from_block: int, to_block: int | str,
                       borrower: str | None = None) -> list:
        """ScoreRecorded logs (optionally of one borrower), decoded by hand."""
        topics = [SCORE_RECORDED_TOPIC]
        if borrower:
            topics.append("0x" + _address_word(borrower))
        logs = self._logs(self.registry.address, from_block, to_block, topics,
                          "eth_getLogs ScoreRecorded")
        return [_decode_recorded(log) for log in logs]

    def config_at(self, digest: bytes) -> tuple[list[str], int] | None:
        """(signers, threshold) of the configuration named by `digest`, read from its ConfigSet
        event: start at the latest configuration's block and follow each event's
        previousConfigBlockNumber back (OCR2's walk: a few getLogs, no archive node). None if no
        configuration of this registry had that digest. A found configuration never changes, so
        it is remembered (verifying a report of many entries walks once)."""
        if digest in self._configs:
            return self._configs[digest]
        fns = self.registry.functions
        _, block, _ = self._r(lambda: fns.latestConfigDetails().call(), "latestConfigDetails")
        event = self.registry.events.ConfigSet
        while block:
            logs = self._r(lambda b=block: event.get_logs(from_block=b, to_block=b),
                           "eth_getLogs ConfigSet")
            if not logs:
                return None
            for log in reversed(logs):  # several changes may share a block: newest first
                a = log["args"]
                if bytes(a["configDigest"]) == digest:
                    found = [checksum(x) for x in a["signers"]], int(a["threshold"])
                    self._configs[digest] = found
                    return found
            block = int(logs[0]["args"]["previousConfigBlockNumber"])
        return None

    def pending_nonce(self, address: str) -> int:
        return int(self._r(lambda: self.w3.eth.get_transaction_count(address, "pending"),
                           "eth_getTransactionCount"))

    def latest_nonce(self, address: str) -> int:
        return int(self._r(lambda: self.w3.eth.get_transaction_count(address, "latest"),
                           "eth_getTransactionCount"))

    def receipt(self, tx_hash: str) -> Any | None:
        try:
            return self.w3.eth.get_transaction_receipt(tx_hash)
        except TransactionNotFound:
            return None

    def decode_recorded(self, receipt: Any) -> list:
        return [_decode_recorded(log) for log in receipt["logs"]
                if log["address"] == self.registry.address and log["topics"]
                and _hex(log["topics"][0]) == SCORE_RECORDED_TOPIC]

    def decode_skipped(self, receipt: Any) -> list:
        return [_event(log, index=int.from_bytes(_bytes(log["topics"][1]), "big"),
                       borrower=_topic_address(log["topics"][2]))
                for log in receipt["logs"]
                if log["address"] == self.registry.address and log["topics"]
                and _hex(log["topics"][0]) == SCORE_SKIPPED_TOPIC]


SCORE_REQUESTED_TOPIC = "0x" + keccak(
    b"ScoreRequested(uint256,address,uint256,uint16,uint64)").hex()
SCORE_RECORDED_TOPIC = "0x" + keccak(
    b"ScoreRecorded(address,bytes32,bytes32,uint16,uint16,uint32,uint64,uint64,uint256,bytes32)").hex()
SCORE_SKIPPED_TOPIC = "0x" + keccak(b"ScoreSkipped(uint256,address,uint256,bytes)").hex()
_ATT_TUPLE = "(" + ",".join(t for _, t in ATTESTATION_FIELDS) + ")"
NONCES_SELECTOR_HEX = "0x" + keccak(b"nonces(address)")[:4].hex()
SCORE_REQUESTED_SELECTOR_HEX = "0x" + keccak(b"scoreRequested(address)")[:4].hex()
SUBMIT_SELECTOR = keccak(f"submit({_ATT_TUPLE},bytes[])".encode())[:4]
SUBMIT_BATCH_SELECTOR = keccak(f"submitBatch({_ATT_TUPLE}[],bytes[][])".encode())[:4]


def _hex(value: Any) -> str:
    return value if isinstance(value, str) else "0x" + bytes(value).hex()


def _address_word(address: str) -> str:
    """An address as one 32-byte ABI word, hex without 0x."""
    raw = bytes.fromhex(address.removeprefix("0x"))
    if len(raw) != 20:
        raise ValueError(f"not a 20-byte address: {address!r}")
    return raw.rjust(32, b"\0").hex()


def _block_param(block: int | str) -> str:
    return hex(block) if isinstance(block, int) else block


def _bytes(value: Any) -> bytes:
    """Raw JSON-RPC hex strings and web3's HexBytes alike (receipts come through web3)."""
    return bytes.fromhex(value.removeprefix("0x")) if isinstance(value, str) else bytes(value)


def _int(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


def _topic_address(topic: Any) -> str:
    return checksum("0x" + _bytes(topic)[-20:].hex())


def _event(log: Any, **args: Any) -> SimpleNamespace:
    return SimpleNamespace(args=SimpleNamespace(**args), blockNumber=_int(log["blockNumber"]),
                           logIndex=_int(log["logIndex"]),
                           transactionHash=_bytes(log["transactionHash"]))


def _decode_recorded(log: Any) -> SimpleNamespace:
    data = _bytes(log["data"])
    w = [data[i:i + 32] for i in range(0, 8 * 32, 32)]
    n = [int.from_bytes(x, "big") for x in w]
    return _event(log, borrower=_topic_address(log["topics"][1]),
                  modelId=_bytes(log["topics"][2]), featuresHash=w[0], pdBps=n[1], score=n[2],
                  reasonCodes=n[3], issuedAt=n[4], validUntil=n[5], nonce=n[6],
                  extensionHash=w[7])


def encode_submit(atts: list[ScoreAttestation], sigs: list[list[bytes]]) -> bytes:
    """Calldata of submit (one entry) or submitBatch, encoded with eth_abi directly (web3's
    encode_abi validates and normalises every value again: ~10x slower for big batches)."""
    if len(atts) == 1:
        return SUBMIT_SELECTOR + abi_encode([_ATT_TUPLE, "bytes[]"],
                                            [atts[0].as_tuple(), sigs[0]])
    return SUBMIT_BATCH_SELECTOR + abi_encode([_ATT_TUPLE + "[]", "bytes[][]"],
                                              [[a.as_tuple() for a in atts], sigs])


class TxSender:
    """Signs, checkpoints, broadcasts and follows this node's transactions."""

    def __init__(self, chain: Chain, signer: Signer, store: Store, settings: Settings,
                 metrics: Any | None = None) -> None:
        self.chain = chain
        self.signer = signer
        self.store = store
        self.settings = settings
        self.metrics = metrics
        self.nonces = NonceAllocator(lambda: chain.pending_nonce(signer.address))
        self.gas = GasStrategy(
            cap_wei=int(settings.max_fee_gwei * 10**9),
            priority_wei=int(settings.priority_fee_gwei * 10**9),
            bump_percent=settings.gas_bump_percent,
        )
        self.breaker = CircuitBreaker(settings.breaker_failures, settings.breaker_cooldown_s)
        self._send_lock = threading.Lock()

    # --- build + send ---------------------------------------------------------------------------
    def submit_batch(self, atts: list[ScoreAttestation], sigs: list[list[bytes]],
                     loan_ids: list[int]) -> str:
        if not self.breaker.allow():
            raise CircuitOpen("circuit breaker open: not sending")
        fn = "submit" if len(atts) == 1 else "submitBatch"
        data = "0x" + encode_submit(atts, sigs).hex()
        gas = TX_BASE_GAS + self.settings.gas_limit_per_attestation * len(atts)
        with self._send_lock:
            fees = self.gas.initial(self.chain.base_fee())
            nonce = self.nonces.allocate()
            tx = {
                "type": 2, "chainId": self.chain.chain_id, "nonce": nonce,
                "to": self.chain.registry.address, "data": data, "value": 0, "gas": gas,
                "maxFeePerGas": fees.max_fee, "maxPriorityFeePerGas": fees.priority_fee,
            }
            try:
                return self._sign_record_send(tx, fn, loan_ids,
                                              [a.to_json() for a in atts], fees)
            except Exception:
                self.nonces.reset()  # re-seed from the chain's pending count next time
                raise

    def _sign_record_send(self, tx: dict, kind: str, loan_ids: list[int], atts_json: list[dict],
                          fees: Fees) -> str:
        signed = Account.sign_transaction(tx, self.signer.private_key_bytes())
        tx_hash = "0x" + bytes(signed.hash).hex()
        raw = bytes(signed.raw_transaction)
        block, _ = self.chain.head(max_age_s=5.0)
        # write-ahead: after a crash from here on, the restart re-broadcasts these exact bytes
        self.store.add_submission(Submission(
            tx_hash=tx_hash, account_nonce=tx["nonce"], kind=kind, raw_tx=raw, loan_ids=loan_ids,
            attestations=atts_json, max_fee=fees.max_fee, status="inflight",
            sent_block=block, sent_at=time.time(),
        ))
        log.info("tx signed", extra={"kind": kind, "nonce": tx["nonce"], "tx_hash": tx_hash,
                                     "loan_ids": loan_ids, "count": len(atts_json)})
        self.broadcast(raw, tx_hash, kind, tx["nonce"])
        return tx_hash

    def broadcast(self, raw: bytes, tx_hash: str, kind: str, nonce: int) -> None:
        def send() -> None:
            try:
                self.chain.w3.eth.send_raw_transaction(raw)
            except Exception as exc:
                msg = str(exc).lower()
                if "already known" in msg or "already imported" in msg or "known transaction" in msg:
                    return  # identical bytes already in the pool: that is success
                if "nonce too low" in msg or "mining has already started" in msg:
                    # a transaction with this nonce was mined (or, on Ganache, is being mined):
                    # resolve() sorts out which one
                    log.warning("nonce already used", extra={"kind": kind, "nonce": nonce,
                                                             "tx_hash": tx_hash})
                    return
                raise

        try:
            retry(send, attempts=4, what="eth_sendRawTransaction")
        except Exception:
            self.breaker.failure()
            log.error("tx broadcast failed", extra={"kind": kind, "nonce": nonce,
                                                    "tx_hash": tx_hash})
            raise
        self.breaker.success()
        log.info("tx broadcast", extra={"kind": kind, "nonce": nonce, "tx_hash": tx_hash})

    # --- follow ---------------------------------------------------------------------------------
    def resolve(self) -> list[tuple[Submission, Any]]:
        """Check every in-flight transaction once. Returns (submission, receipt) for those mined.

        * mined (any of the gas-bumped copies of one nonce) → `mined`/`reverted`, siblings
          `replaced`;
        * not mined, account nonce moved past it → `dropped` (another tx took the nonce);
        * not mined, stuck for `stuck_after_blocks` → re-signed with bumped fees (same nonce),
          recorded, broadcast;
        * otherwise re-broadcast the identical bytes (harmless; recovers a lost mempool).
        """
        mined: list[tuple[Submission, Any]] = []
        inflight = self.store.inflight()
        if not inflight:
            return mined
        head, _ = self.chain.head(max_age_s=0.0)
        # read the account nonce *before* the receipts: a transaction mined in between then shows
        # up as a receipt, never as "nonce used by something else"
        latest_nonce = self.chain.latest_nonce(self.signer.address)
        by_nonce: dict[int, list[Submission]] = {}
        for sub in inflight:
            by_nonce.setdefault(sub.account_nonce, []).append(sub)
        for nonce, subs in sorted(by_nonce.items()):
            found = False
            for sub in subs:
                receipt = self.chain.receipt(sub.tx_hash)
                if receipt is not None:
                    status = "mined" if receipt["status"] == 1 else "reverted"
                    self.store.set_submission_status(sub.tx_hash, status,
                                                     int(receipt["blockNumber"]),
                                                     nonce_siblings=True)
                    if self.metrics:
                        self.metrics.tx_mined.labels(status).inc()
                    log.info("tx " + status, extra={"kind": sub.kind, "nonce": nonce,
                                                    "tx_hash": sub.tx_hash,
                                                    "block": int(receipt["blockNumber"]),
                                                    "gas_used": int(receipt["gasUsed"])})
                    mined.append((sub, receipt))
                    found = True
                    break
            if found:
                continue
            if latest_nonce > nonce:
                # none of our copies was mined but the nonce was used: superseded
                for sub in subs:
                    self.store.set_submission_status(sub.tx_hash, "dropped")
                    log.warning("tx dropped", extra={"kind": sub.kind, "nonce": nonce,
                                                     "tx_hash": sub.tx_hash})
                continue
            newest = max(subs, key=lambda s: s.sent_at)
            if head - newest.sent_block >= self.settings.stuck_after_blocks:
                self._bump(newest, head)
            else:
                try:
                    self.broadcast(newest.raw_tx, newest.tx_hash, newest.kind, nonce)
                except Exception:
                    pass  # logged; tried again next round
        return mined

    def _bump(self, sub: Submission, head: int) -> None:
        decoded = _decode_raw(sub.raw_tx)
        fees = self.gas.bump(Fees(decoded["maxFeePerGas"], decoded["maxPriorityFeePerGas"]))
        if fees is None:
            log.warning("tx stuck at gas cap", extra={"kind": sub.kind, "nonce": sub.account_nonce,
                                                      "tx_hash": sub.tx_hash})
            try:
                self.broadcast(sub.raw_tx, sub.tx_hash, sub.kind, sub.account_nonce)
            except Exception:
                pass
            return
        decoded["maxFeePerGas"] = fees.max_fee
        decoded["maxPriorityFeePerGas"] = fees.priority_fee
        log.info("tx gas bump", extra={"kind": sub.kind, "nonce": sub.account_nonce,
                                       "tx_hash": sub.tx_hash, "max_fee": fees.max_fee})
        with self._send_lock:
            self._sign_record_send(decoded, sub.kind, sub.loan_ids, sub.attestations, fees)


def _decode_raw(raw: bytes) -> dict:
    """Fields of a signed type-2 transaction, to re-sign with new fees."""
    from eth_account.typed_transactions import TypedTransaction
    from hexbytes import HexBytes

    tx = TypedTransaction.from_bytes(HexBytes(raw))  # the checkpoint stores plain bytes
    d = tx.as_dict()
    out = {
        "type": 2, "chainId": d["chainId"], "nonce": d["nonce"], "to": to_checksum_address(d["to"]),
        "data": "0x" + bytes(d["data"]).hex(), "value": d["value"], "gas": d["gas"],
        "maxFeePerGas": d["maxFeePerGas"], "maxPriorityFeePerGas": d["maxPriorityFeePerGas"],
    }
    return out
