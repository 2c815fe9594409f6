"""Send errors are classified per client: one case per class and client message."""

import pytest

from oracle.chain import send_errors as se

CASES = [
    # geth and geth-style providers
    ("already known", se.KNOWN),
    ("nonce too low: next nonce 12, tx nonce 11", se.NONCE_USED),
    ("replacement transaction underpriced", se.UNDERPRICED),
    ("transaction underpriced: tip needed 1, tip permitted 0", se.UNDERPRICED),
    ("max fee per gas less than block base fee: address 0x.., maxFeePerGas: 1, baseFee: 7",
     se.UNDERPRICED),
    ("insufficient funds for gas * price + value: balance 0, tx cost 21000", se.INSUFFICIENT_FUNDS),
    ("exceeds block gas limit", se.GAS_LIMIT),
    ("intrinsic gas too low: have 100, want 21000", se.GAS_LIMIT),
    ("execution reverted: CreditScoreInvalidNonce", se.REVERTS),
    # anvil
    ("transaction already imported", se.KNOWN),
    ("{'code': -32003, 'message': 'nonce too low'}", se.NONCE_USED),
    ("fee cap less than block base fee", se.UNDERPRICED),
    ("Insufficient funds for gas * price + value", se.INSUFFICIENT_FUNDS),
    ("Transaction gas limit is greater than block gas limit", se.GAS_LIMIT),
    # Ganache 7
    ("Transaction with the same hash was already imported.", se.KNOWN),
    ("the tx doesn't have the correct nonce. account has nonce of: 5 tx has nonce of: 4",
     se.NONCE_USED),
    ("mining has already started", se.NONCE_USED),
    ("VM Exception while processing transaction: revert", se.REVERTS),
    # transport and providers
    ("HTTPConnectionPool(host='127.0.0.1', port=8545): Max retries exceeded", se.TRANSIENT),
    ("503 Server Error: Service Unavailable", se.TRANSIENT),
    ("429 Too Many Requests", se.TRANSIENT),
    ("Expecting value: line 1 column 1 (char 0)", se.TRANSIENT),  # garbage instead of JSON
    ("something nobody has seen", se.UNKNOWN),
]


@pytest.mark.parametrize("message,cls", CASES)
def test_send_error_message_is_classified(message, cls):
    assert se.classify(ValueError(message)) == cls


def test_transport_exceptions_are_transient_whatever_their_text():
    assert se.classify(ConnectionError("x")) == se.TRANSIENT
    assert se.classify(TimeoutError()) == se.TRANSIENT


def test_broadcast_retries_transient_errors_only_and_reports_the_class():
    from types import SimpleNamespace

    from oracle.chain import SendError, TxSender
    from oracle.metrics import Metrics
    from oracle.settings import load_settings
    from oracle.store import Store

    answers = []

    def send_raw_transaction(raw):
        exc = answers.pop(0)
        if exc:
            raise exc

    chain = SimpleNamespace(w3=SimpleNamespace(eth=SimpleNamespace(
        send_raw_transaction=send_raw_transaction)), balance=lambda a: 0)
    metrics = Metrics()
    s = TxSender(chain, SimpleNamespace(address="0x" + "44" * 20), Store.open(":memory:"),
                 load_settings(None, env={}), metrics,
                 transmitter=SimpleNamespace(address="0x" + "33" * 20))
    answers[:] = [ConnectionError("refused"), ValueError("503 Service Unavailable"), None]
    assert s.broadcast(b"", "0x01", "submit", 0) == "sent" and answers == []
    answers[:] = [ValueError("nonce too low"), None]
    assert s.broadcast(b"", "0x01", "submit", 0) == se.NONCE_USED and answers == [None]
    answers[:] = [ValueError("insufficient funds for gas * price + value"), None]
    with pytest.raises(SendError) as info:
        s.broadcast(b"", "0x01", "submit", 0)
    assert info.value.cls == se.INSUFFICIENT_FUNDS and answers == [None]  # not retried
    value = metrics.registry.get_sample_value
    assert value("oracle_send_errors_total", {"class": se.INSUFFICIENT_FUNDS}) == 1
    assert value("oracle_transmitter_balance_eth") == 0
