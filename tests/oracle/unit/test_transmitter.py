"""The transmitter key sends and pays; the attestation signing key never does."""

from types import SimpleNamespace

import pytest

from oracle import keys
from oracle.chain import TxSender
from oracle.settings import SettingsError, load_settings
from oracle.store import Store
from oracle.transmitter import load_transmitter

KEY_A, KEY_B = "0x" + "a1" * 32, "0x" + "b2" * 32


def test_the_transmitter_comes_from_its_own_keystore(tmp_path):
    address = keys.create_keystore(tmp_path / "t.json", "pw", kdf_light=True)
    s = load_settings(None, env={"ORACLE_TRANSMITTER_KEYSTORE_PATH": str(tmp_path / "t.json"),
                                 "ORACLE_TRANSMITTER_KEYSTORE_PASSWORD": "pw"})
    assert load_transmitter(s).address == address


def test_no_transmitter_key_is_refused_with_what_to_set():
    with pytest.raises(SettingsError, match="ORACLE_TRANSMITTER_KEYSTORE_PATH"):
        load_transmitter(load_settings(None, env={}))


def test_the_signing_key_is_refused_as_transmitter():
    signing = keys.signer_from_key_hex(KEY_A)
    s = load_settings(None, env={"ORACLE_TRANSMITTER_PRIVATE_KEY": KEY_A})
    with pytest.raises(SettingsError, match="signing key"):
        load_transmitter(s, signing.address)
    with pytest.raises(SettingsError, match="signing key"):
        TxSender(SimpleNamespace(), signing, Store.open(":memory:"), s)


def test_the_sender_signs_transactions_with_the_transmitter_not_the_signing_key():
    signing = keys.signer_from_key_hex(KEY_A)
    s = load_settings(None, env={"ORACLE_TRANSMITTER_PRIVATE_KEY": KEY_B})
    seeded = []
    chain = SimpleNamespace(pending_nonce=lambda a: seeded.append(a) or 0)
    sender = TxSender(chain, signing, Store.open(":memory:"), s)
    assert sender.transmitter.address == keys.signer_from_key_hex(KEY_B).address
    sender.nonces.allocate()
    assert seeded == [sender.transmitter.address]  # nonces are the transmitter's


def test_transmitter_secrets_are_environment_only_and_never_shown(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text('{"transmitter_private_key": "0x' + "b2" * 32 + '"}')
    with pytest.raises(SettingsError, match="environment"):
        load_settings(cfg, env={})
    s = load_settings(None, env={"ORACLE_TRANSMITTER_PRIVATE_KEY": KEY_B})
    assert "b2b2" not in repr(s) and s.public_dict()["transmitter_private_key"] == "set"
