"""Ganache 7's receipt race (oracle.rpc_quirks): retried while it lasts, then reported as null."""

import pytest
from web3 import Web3
from web3.exceptions import TransactionNotFound, Web3RPCError
from web3.providers import BaseProvider

from oracle.rpc_quirks import (
    ReceiptRaceRetry,
    is_receipt_race,
    request_receipt_retrying_race,
    request_transaction_retrying_lag,
)

RACE = {"jsonrpc": "2.0", "id": 7, "error": {
    "code": -32700, "message": "Cannot read properties of undefined (reading 'toJSON')"}}
RECEIPT = {"jsonrpc": "2.0", "id": 7, "result": {"status": "0x1"}}


class Scripted:
    """A make_request that answers from a script and counts the calls."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []

    def __call__(self, method, params):
        self.calls.append(method)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def no_sleep(_seconds):
    pass


def test_race_is_asked_again_until_the_receipt_is_stored():
    make_request = Scripted(RACE, RACE, RECEIPT)
    assert request_receipt_retrying_race(
        make_request, "eth_getTransactionReceipt", ["0xab"], sleep=no_sleep) == RECEIPT
    assert len(make_request.calls) == 3


def test_race_that_outlasts_the_attempts_reads_as_not_yet_mined():
    make_request = Scripted(RACE)
    answer = request_receipt_retrying_race(
        make_request, "eth_getTransactionReceipt", ["0xab"], attempts=4, sleep=no_sleep)
    assert answer == {"jsonrpc": "2.0", "id": 7, "result": None}
    assert len(make_request.calls) == 4


def test_race_raised_as_an_exception_is_retried_too():
    make_request = Scripted(Web3RPCError("race", rpc_response=RACE), RECEIPT)
    assert request_receipt_retrying_race(
        make_request, "eth_getTransactionReceipt", ["0xab"], sleep=no_sleep) == RECEIPT


def test_other_errors_and_methods_pass_through_untouched():
    other = {"jsonrpc": "2.0", "id": 1, "error": {"code": -32000, "message": "nonce too low"}}
    make_request = Scripted(other)
    assert request_receipt_retrying_race(
        make_request, "eth_getTransactionReceipt", [], sleep=no_sleep) == other
    assert request_receipt_retrying_race(make_request, "eth_sendRawTransaction", [],
                                         sleep=no_sleep) == other
    assert len(make_request.calls) == 2  # no retries
    with pytest.raises(Web3RPCError):
        request_receipt_retrying_race(
            Scripted(Web3RPCError("boom", rpc_response=other)),
            "eth_getTransactionReceipt", [], sleep=no_sleep)
    # The same race text from another method is not this bug: not retried.
    race_elsewhere = Scripted(RACE)
    assert request_receipt_retrying_race(race_elsewhere, "eth_call", [], sleep=no_sleep) == RACE
    assert len(race_elsewhere.calls) == 1


@pytest.mark.parametrize("answer", [None, RECEIPT, {"error": "text"}, {"error": {}}])
def test_only_the_race_message_is_recognised(answer):
    assert not is_receipt_race(answer)


class RacyProvider(BaseProvider):
    """Answers the race twice, then a null receipt: web3 must see 'not found', not an error."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def make_request(self, method, params):
        self.calls += 1
        return RACE if self.calls <= 2 else {"jsonrpc": "2.0", "id": 7, "result": None}


def test_installed_in_a_web3_stack_the_race_becomes_transaction_not_found():
    w3 = Web3(RacyProvider())
    w3.middleware_onion.inject(ReceiptRaceRetry, layer=0)
    with pytest.raises(TransactionNotFound):
        w3.eth.get_transaction_receipt("0x" + "ab" * 32)
    assert w3.provider.calls == 3

    bare = Web3(RacyProvider())  # without the middleware, the race surfaces as an RPC error
    with pytest.raises(Web3RPCError, match="toJSON"):
        bare.eth.get_transaction_receipt("0x" + "ab" * 32)


NOT_FOUND = {"jsonrpc": "2.0", "id": 3, "result": None}
FOUND = {"jsonrpc": "2.0", "id": 3, "result": {"hash": "0x" + "cd" * 32, "blockNumber": "0x5"}}


def test_a_lagging_transaction_look_up_is_asked_again_until_it_answers():
    make_request = Scripted(NOT_FOUND, NOT_FOUND, FOUND)
    assert request_transaction_retrying_lag(make_request, "eth_getTransactionByHash", ["0x"],
                                            sleep=no_sleep) == FOUND
    assert len(make_request.calls) == 3


def test_a_transaction_that_stays_unknown_is_reported_null_after_the_attempts():
    make_request = Scripted(NOT_FOUND)
    assert request_transaction_retrying_lag(make_request, "eth_getTransactionByHash", ["0x"],
                                            attempts=4, sleep=no_sleep) == NOT_FOUND
    assert len(make_request.calls) == 4


def test_found_transactions_errors_and_other_methods_are_asked_once():
    for method, answer in (("eth_getTransactionByHash", FOUND), ("eth_getTransactionByHash", RACE),
                           ("eth_getTransactionReceipt", NOT_FOUND), ("eth_call", NOT_FOUND)):
        make_request = Scripted(answer)
        assert request_transaction_retrying_lag(make_request, method, [], sleep=no_sleep) == answer
        assert make_request.calls == [method]
