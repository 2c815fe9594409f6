"""The transmitter key: the account that sends the node's transactions and pays their gas.

The attestation signing key never pays gas (issue 12): a signing key that also holds ETH is a
hot wallet whose compromise costs both the funds and the oracle's word, and its address would
show on chain as a sender beside every signature it gives. So the node sends from a second key,
from its own keystore (`ORACLE_TRANSMITTER_KEYSTORE_PATH` + `_PASSWORD` or `_PASSWORD_FILE`) or
`ORACLE_TRANSMITTER_PRIVATE_KEY` (environment only), and refuses the signing key in that role.
"""

from __future__ import annotations

from oracle import keys
from oracle.settings import Settings, SettingsError


def load_transmitter(s: Settings, signing_address: str | None = None) -> keys.Signer:
    if s.transmitter_keystore_path is not None:
        password = keys.read_password(
            s.transmitter_keystore_password.get_secret_value()
            if s.transmitter_keystore_password else None,
            s.transmitter_keystore_password_file)
        transmitter = keys.load_keystore(s.transmitter_keystore_path, password)
    elif s.transmitter_private_key is not None:
        transmitter = keys.signer_from_key_hex(s.transmitter_private_key.get_secret_value())
    else:
        raise SettingsError(
            "no transmitter key: set ORACLE_TRANSMITTER_KEYSTORE_PATH (+ "
            "ORACLE_TRANSMITTER_KEYSTORE_PASSWORD or _PASSWORD_FILE) or "
            "ORACLE_TRANSMITTER_PRIVATE_KEY; the attestation signing key never pays gas")
    check_distinct(transmitter.address, signing_address)
    return transmitter


def check_distinct(transmitter_address: str, signing_address: str | None) -> None:
    if signing_address is not None and transmitter_address.lower() == signing_address.lower():
        raise SettingsError("the transmitter key is the attestation signing key: give the node "
                            "a separate transmitter key (the signing key never pays gas)")
