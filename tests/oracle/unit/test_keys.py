import os
import stat

import pytest

from oracle import keys


def test_keystore_round_trip_and_permissions(tmp_path):
    path = tmp_path / "k.json"
    address = keys.create_keystore(path, "correct horse", kdf_light=True)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    signer = keys.load_keystore(path, "correct horse")
    assert signer.address == address
    assert "private" not in repr(signer) and address in repr(signer)


def test_wrong_password_is_a_clear_error(tmp_path):
    path = tmp_path / "k.json"
    keys.create_keystore(path, "right", kdf_light=True)
    with pytest.raises(keys.WrongPassword, match="wrong password"):
        keys.load_keystore(path, "wrong")


def test_import_keeps_the_address(tmp_path):
    key = bytes(range(1, 33))
    address = keys.create_keystore(tmp_path / "k.json", "pw", key, kdf_light=True)
    assert address == keys.public_key_of(key)


def test_existing_keystore_is_not_overwritten(tmp_path):
    path = tmp_path / "k.json"
    keys.create_keystore(path, "pw", kdf_light=True)
    before = path.read_text()
    with pytest.raises(keys.KeyError_, match="overwrite"):
        keys.create_keystore(path, "pw", kdf_light=True)
    assert path.read_text() == before


@pytest.mark.parametrize("text", ["", "0x12", "zz" * 32, "00" * 32, "ff" * 32])
def test_invalid_private_keys_are_rejected(text):
    with pytest.raises(keys.KeyError_):
        keys.Signer(keys.parse_private_key(text))


def test_empty_password_and_missing_or_corrupt_keystore(tmp_path):
    with pytest.raises(keys.KeyError_, match="empty password"):
        keys.create_keystore(tmp_path / "a.json", "")
    with pytest.raises(keys.KeystoreNotFound):
        keys.load_keystore(tmp_path / "nope.json", "pw")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(keys.KeyError_, match="not JSON"):
        keys.load_keystore(tmp_path / "bad.json", "pw")


def test_password_from_file_and_missing_password(tmp_path):
    (tmp_path / "pw").write_text("s3cret\n")
    assert keys.read_password(None, tmp_path / "pw") == "s3cret"
    with pytest.raises(keys.KeyError_, match="ORACLE_KEYSTORE_PASSWORD"):
        keys.read_password(None, None)


def test_signatures_are_low_s_and_recover():
    signer = keys.Signer(b"\x07" * 32)
    for i in range(50):
        digest = bytes([i]) * 32
        sig = signer.sign_digest(digest)
        assert int.from_bytes(sig[32:64], "big") <= keys.SECP256K1_N // 2
        assert keys.recover(digest, sig) == signer.address


def test_high_s_and_malformed_signatures_are_refused():
    signer = keys.Signer(b"\x07" * 32)
    digest = b"\x01" * 32
    sig = signer.sign_digest(digest)
    s = int.from_bytes(sig[32:64], "big")
    flipped = sig[:32] + (keys.SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - sig[64]])
    with pytest.raises(ValueError, match="malleable"):
        keys.recover(digest, flipped)
    with pytest.raises(ValueError):
        keys.recover(digest, sig[:64])
    with pytest.raises(ValueError):
        keys.recover(digest, sig[:64] + b"\x05")
