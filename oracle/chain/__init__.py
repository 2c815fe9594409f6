"""The chain edge, by concern: `rpc` (the RPC client; reads retried, they are idempotent),
`codec` (calldata and logs of the Scorechain contracts), `txm` (the transaction manager: nonces,
fees, the breaker, and the persisted transaction states that survive crashes and reorgs).
Everything is re-exported here, so `from oracle.chain import Chain, TxSender` keeps working."""

from oracle.chain.codec import (
    NONCES_SELECTOR_HEX,
    SCORE_RECORDED_TOPIC,
    SCORE_REQUESTED_TOPIC,
    SCORE_SKIPPED_TOPIC,
    SUBMIT_BATCH_SELECTOR,
    SUBMIT_REPORT_SELECTOR,
    SUBMIT_SELECTOR,
    _address_word,
    _decode_raw,
    _decode_recorded,
    encode_report,
    encode_submit,
    unpack_record,
)
from oracle.chain.errors import ChainError, CircuitOpen, EstimateReverted, SendError
from oracle.chain.rpc import Chain, retry
from oracle.chain.fees import Fees, GasStrategy
from oracle.chain.txm import CircuitBreaker, NonceAllocator, TxSender

__all__ = [
    "NONCES_SELECTOR_HEX", "SCORE_RECORDED_TOPIC", "SCORE_REQUESTED_TOPIC", "SCORE_SKIPPED_TOPIC",
    "SUBMIT_BATCH_SELECTOR", "SUBMIT_REPORT_SELECTOR", "SUBMIT_SELECTOR", "Chain", "ChainError", "CircuitBreaker",
    "CircuitOpen", "EstimateReverted", "Fees", "GasStrategy", "NonceAllocator", "SendError", "TxSender", "_address_word",
    "_decode_raw", "_decode_recorded", "encode_report", "encode_submit", "retry",
    "unpack_record",
]
