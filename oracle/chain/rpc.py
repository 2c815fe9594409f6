"""The RPC client: every read of the chain, retried with exponential backoff (they are
idempotent; sends are not retried here — see `oracle.chain.txm`)."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, TypeVar

from eth_utils import to_checksum_address
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)
from web3 import HTTPProvider, Web3
from web3.exceptions import TransactionNotFound

from oracle.abi import load_abi
from oracle.chain.codec import (
    NONCES_SELECTOR_HEX,
    SCORE_REQUESTED_SELECTOR_HEX,
    SCORE_RECORDED_TOPIC,
    SCORE_REQUESTED_TOPIC,
    SCORE_SKIPPED_TOPIC,
    _address_word,
    _block_param,
    _bytes,
    _decode_recorded,
    _event,
    _hex,
    _int,
    _topic_address,
)
from oracle.chain.errors import ChainError, EstimateReverted
from oracle.chain.revert_reasons import decode as decode_revert
from oracle.rpc_quirks import ReceiptRaceRetry
from oracle.settings import Settings
from oracle.typed_data import ScoreAttestation, checksum

log = logging.getLogger("oracle.chain")
T = TypeVar("T")


def retry(fn: Callable[[], T], *, attempts: int = 5, base_delay: float = 0.2,
          max_delay: float = 5.0, what: str = "rpc call",
          stop: threading.Event | None = None,
          retry_if: Callable[[BaseException], bool] | None = None) -> T:
    """Call `fn` with exponential backoff and jitter (tenacity), re-raising the last error. Only
    for idempotent calls (reads, re-broadcasting identical signed bytes). `retry_if`: which
    errors are worth another try (default: any)."""
    def stopped(state: RetryCallState) -> bool:
        return stop is not None and stop.is_set()

    def before_sleep(state: RetryCallState) -> None:
        log.warning("retrying", extra={"what": what, "attempt": state.attempt_number,
                                       "error": str(state.outcome.exception())})

    retrying = Retrying(
        stop=stop_after_attempt(attempts) | stopped,
        # web3 raises many types (requests, ValueError, Web3RPCError): any error is retried
        wait=wait_exponential_jitter(initial=base_delay, max=max_delay, jitter=base_delay),
        before_sleep=before_sleep, reraise=True, sleep=time.sleep,
        retry=retry_if_exception(retry_if or (lambda exc: True)),
    )
    return retrying(fn)


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
        self._finality: str | None = None

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

    def zk_circuit(self, model_id: bytes) -> tuple[str, bytes, int] | None:
        """(verifier, verifying key's SHA-256, scale) of the zk circuit ModelRegistry attached to
        ``model_id``, None if it has none."""
        verifier, vk_hash, scale = self._r(
            lambda: self.model_registry.functions.zkCircuit(model_id).call(), "zkCircuit")
        return None if int(verifier, 16) == 0 else (verifier, bytes(vk_hash), int(scale))

    def zk_scale(self, model_id: bytes) -> int | None:
        """The circuit's fixed-point scale, None for a model without one (then its PD is the
        bundle's float one; see models.zk.canonical)."""
        circuit = self.zk_circuit(model_id)
        return None if circuit is None else circuit[2]

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
        return self._per_borrower_at(NONCES_SELECTOR_HEX, pairs, "nonces")

    def score_requested(self, borrower: str) -> bool:
        """Whether the borrower has an open loan request (a request since their last record)."""
        return self.scores_requested([borrower])[borrower]

    def scores_requested(self, borrowers: list[str]) -> dict[str, bool]:
        """`scoreRequested(b)` now for many borrowers, in one JSON-RPC batch (idempotent:
        retried): whether a request awaits its score."""
        got = self._per_borrower_at(SCORE_REQUESTED_SELECTOR_HEX, [(b, "latest") for b in borrowers],
                                    "scoreRequested")
        return {b: bool(x) for b, x in zip(borrowers, got)}

    def _per_borrower_at(self, selector_hex: str, pairs: list[tuple[str, int | str]],
                         name: str) -> list[int]:
        """A one-address view of the registry at each (borrower, block), one JSON-RPC batch."""
        if not pairs:
            return []
        # Calldata by hand: web3's encode_abi re-resolves the ABI on every call (~1 ms each; it
        # was the largest cost of a co-signing node under load).
        calls = [("eth_call", [{"to": self.registry.address,
                                "data": selector_hex + _address_word(b)},
                               hex(blk) if isinstance(blk, int) else blk])
                 for b, blk in pairs]

        def run() -> list[int]:
            responses = self.w3.provider.make_batch_request(calls)
            if not isinstance(responses, list) or len(responses) != len(calls):
                raise ChainError(f"batch eth_call failed: {responses}")
            out = []
            for (b, _), r in zip(pairs, sorted(responses, key=lambda r: r["id"])):
                if "error" in r:
                    raise ChainError(f"eth_call {name}({b}) failed: {r['error']}")
                res = r["result"]
                out.append(int(res, 16) if isinstance(res, str) else int.from_bytes(bytes(res),
                                                                                    "big"))
            return out

        return self._r(run, f"eth_call batch {name}")

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

    def header(self, block: int | str) -> dict | None:
        """{number, hash, parent_hash} of a block (a number or a tag), None if the chain has no
        such block (yet, or any more)."""
        def run() -> dict | None:
            r = self.w3.provider.make_request("eth_getBlockByNumber", [_block_param(block), False])
            if "error" in r:
                raise ChainError(f"eth_getBlockByNumber failed: {r['error']}")
            b = r.get("result")
            if not b:
                return None
            if not isinstance(b, dict) or "hash" not in b or "parentHash" not in b:
                raise ChainError("eth_getBlockByNumber: malformed block")  # garbage: retried
            return {"number": _int(b["number"]), "hash": _hex(b["hash"]).lower(),
                    "parent_hash": _hex(b["parentHash"]).lower()}

        return self._r(run, "eth_getBlockByNumber")

    def canonical_hashes(self, numbers: list[int]) -> dict[int, str | None]:
        """Canonical hash of each block number, in one JSON-RPC batch (idempotent: retried)."""
        if not numbers:
            return {}
        calls = [("eth_getBlockByNumber", [hex(n), False]) for n in numbers]

        def run() -> dict[int, str | None]:
            responses = self.w3.provider.make_batch_request(calls)
            if not isinstance(responses, list) or len(responses) != len(calls):
                raise ChainError("batch eth_getBlockByNumber failed")
            out = {}
            for n, r in zip(numbers, sorted(responses, key=lambda r: r["id"])):
                if "error" in r:
                    raise ChainError(f"eth_getBlockByNumber {n} failed: {r['error']}")
                b = r.get("result")
                out[n] = _hex(b["hash"]).lower() if b else None
            return out

        return self._r(run, "eth_getBlockByNumber batch")

    def finality_mode(self) -> str:
        """`depth`, `finalized` or `safe`: how this chain says a block is final. `auto` picks
        `depth` on development chains, whose `finalized` tag is latest (Ganache) or a fixed
        made-up lag (anvil), and the `finalized` tag elsewhere."""
        if self._finality is None:
            mode = self.settings.finality
            if mode == "auto":
                version = str(self._r(lambda: self.w3.client_version, "web3_clientVersion"))
                dev = any(x in version.lower() for x in ("anvil", "ganache", "hardhat",
                                                         "testrpc"))
                mode = "depth" if dev else "finalized"
                log.info("finality", extra={"mode": mode, "client": version.split("/")[0],
                                            "depth": self.settings.finality_depth})
            self._finality = mode
        return self._finality

    def final_block(self, head: int) -> int:
        """The highest block number no reorg can replace any more (-1: none yet)."""
        mode = self.finality_mode()
        if mode == "depth":
            return head - self.settings.finality_depth
        h = self.header(mode)
        return h["number"] if h else -1

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
            result = response.get("result")
            if not isinstance(result, list):
                raise ChainError(f"{what}: not a list of logs")  # garbage: retried
            # a log a reorg took back (filters and subscriptions flag it) is not an event
            return [log for log in result if not log.get("removed")]

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

    def fee_inputs(self, blocks: int = 10, percentile: float = 50.0) -> tuple[int, list[int]]:
        """(next block's base fee, the `percentile` tip of each of the last `blocks` blocks)
        from eth_feeHistory; a client without it (or answering nonsense): the latest block's
        base fee and no tips."""
        try:
            r = self._r(lambda: self.w3.provider.make_request(
                "eth_feeHistory", [hex(blocks), "latest", [percentile]]), "eth_feeHistory")
            result = r["result"]
            base = _int(result["baseFeePerGas"][-1])
            tips = [_int(x[0]) for x in (result.get("reward") or []) if x]
            if base < 0 or any(t < 0 for t in tips):
                raise ValueError("negative fee")
            return base, tips
        except Exception as exc:  # missing method, malformed answer
            log.debug("eth_feeHistory unusable; base fee of the latest block",
                      extra={"error": str(exc)[:200]})
            return self.base_fee(), []

    def estimate_gas(self, tx: dict) -> int:
        """eth_estimateGas (a read: retried on transport errors; a revert is raised at once)."""
        def run() -> int:
            r = self.w3.provider.make_request("eth_estimateGas", [tx])
            if "error" in r:
                raise EstimateReverted(str(r["error"].get("message", r["error"])),
                                       r["error"].get("data"))
            gas = _int(r["result"])
            if gas <= 0:
                raise ChainError("eth_estimateGas: not a gas amount")
            return gas

        return retry(run, attempts=3, what="eth_estimateGas",
                     retry_if=lambda e: not isinstance(e, EstimateReverted))

    def call_uint(self, sender: str, to: str, data: str, gas: int) -> int:
        """eth_call at the head of a function returning one uint256 (a read: retried on transport
        errors; a revert raises EstimateReverted at once)."""
        def run() -> int:
            r = self.w3.provider.make_request("eth_call", [
                {"from": sender, "to": to, "data": data, "gas": hex(gas)}, "latest"])
            if "error" in r:
                raise EstimateReverted(str(r["error"].get("message", r["error"])),
                                       r["error"].get("data"))
            out = _hex(r["result"])
            if len(out) != 66:
                raise ChainError(f"eth_call: not one uint256: {out[:80]}")
            return int(out, 16)

        return retry(run, attempts=3, what="eth_call",
                     retry_if=lambda e: not isinstance(e, EstimateReverted))

    def revert_reason(self, tx_hash: str, block: int) -> str | None:
        """Why a mined transaction reverted, in words (oracle.chain.revert_reasons), or None.

        Replayed with eth_call on the state before its block (earlier transactions of the same
        block are not applied, so this is the likely reason, not a proof); None when the replay
        does not revert, the data is unknown or the node cannot answer (best effort: a log line)."""
        try:
            tx = self.w3.eth.get_transaction(tx_hash)
            call = {"from": tx["from"], "to": tx["to"], "data": _hex(tx["input"]), "gas": hex(tx["gas"]),
                    "value": hex(tx.get("value", 0))}
            r = self.w3.provider.make_request("eth_call", [call, hex(max(0, block - 1))])
        except Exception:  # noqa: BLE001 - a missing reason must not stop the resolve step
            return None
        error = r.get("error") if isinstance(r, dict) else None
        return decode_revert(error.get("data")) if isinstance(error, dict) else None

    def balance(self, address: str) -> int:
        return int(self._r(lambda: self.w3.eth.get_balance(address), "eth_getBalance"))

    def nonce_at(self, address: str, block: int | str) -> int:
        """The account's transaction count at `block` (a number or a tag)."""
        return int(self._r(lambda: self.w3.eth.get_transaction_count(address, block),
                           "eth_getTransactionCount"))

    def decode_recorded(self, receipt: Any) -> list:
        return [_decode_recorded(log) for log in receipt["logs"]
                if not log.get("removed")
                and log["address"] == self.registry.address and log["topics"]
                and _hex(log["topics"][0]) == SCORE_RECORDED_TOPIC]

    def decode_skipped(self, receipt: Any) -> list:
        return [_event(log, index=int.from_bytes(_bytes(log["topics"][1]), "big"),
                       borrower=_topic_address(log["topics"][2]))
                for log in receipt["logs"]
                if not log.get("removed")
                and log["address"] == self.registry.address and log["topics"]
                and _hex(log["topics"][0]) == SCORE_SKIPPED_TOPIC]
