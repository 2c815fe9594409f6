"""Revert data decoded into the error's name and arguments (oracle.chain.revert_reasons)."""
from eth_abi import encode
from eth_utils import keccak

from oracle.chain.errors import EstimateReverted
from oracle.chain.revert_reasons import decode

BORROWER = "0x" + "ab" * 20


def _data(signature, types, values):
    return "0x" + (keccak(text=signature)[:4] + encode(types, values)).hex()


def test_a_custom_error_of_the_registry_is_named_with_its_arguments():
    data = _data("CreditScoreNoOpenRequest(address)", ["address"], [BORROWER])
    assert decode(data) == f"CreditScoreNoOpenRequest(borrower={BORROWER})"
    assert decode({"data": data}) == decode(data)  # nested, as some clients send it


def test_solidity_error_string_and_panic():
    assert decode(_data("Error(string)", ["string"], ["nope"])) == "Error(reason=nope)"
    assert decode(_data("Panic(uint256)", ["uint256"], [0x11])) == "Panic(code=17)"


def test_unknown_or_malformed_data_is_not_guessed():
    assert decode(_data("Nothing(uint256)", ["uint256"], [1])) is None
    assert decode("0x08c379a0" + "00" * 3) is None
    assert decode(None) is None and decode("0x12") is None and decode(42) is None


def test_estimate_reverted_carries_the_decoded_reason():
    exc = EstimateReverted("execution reverted",
                           _data("CreditScoreNoOpenRequest(address)", ["address"], [BORROWER]))
    assert exc.reason.startswith("CreditScoreNoOpenRequest(") and exc.reason in str(exc)
    assert str(EstimateReverted("execution reverted", None)) == "execution reverted"
