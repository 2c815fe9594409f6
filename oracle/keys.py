"""Node keys: an eth-account encrypted keystore, a key in the environment, or a remote signer.

`DigestSigner` is the small interface the node signs through (an address and ``sign_digest``):
`Signer` holds a key in memory; `RemoteSigner` asks a signing service over HTTP and checks that
what comes back recovers to the expected address, so a faulty service cannot make the node emit
a signature that is not its own.

The private key lives only in memory, inside a `Signer`; it is never logged, printed or written
unencrypted. Signatures are 65 bytes r‖s‖v with v in {27, 28} and low s (libsecp256k1 normalises),
which is what OpenZeppelin's `ECDSA.recover` accepts.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Protocol

import coincurve
import requests
from eth_account import Account
from eth_keys import keys as eth_keys
from eth_utils import keccak, to_checksum_address

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class KeyError_(Exception):
    """Base class for key problems (named with a trailing underscore to keep builtins usable)."""


class WrongPassword(KeyError_):
    """The keystore could not be decrypted with the given password."""


class KeystoreNotFound(KeyError_):
    pass


class DigestSigner(Protocol):
    """What the node signs attestations and peer requests with."""

    address: str

    def sign_digest(self, digest: bytes) -> bytes: ...


class Signer:
    """Holds one private key and signs 32-byte digests. `repr` never shows the key."""

    __slots__ = ("_key", "address")

    def __init__(self, private_key: bytes) -> None:
        if len(private_key) != 32 or not 0 < int.from_bytes(private_key, "big") < SECP256K1_N:
            raise KeyError_("not a valid secp256k1 private key")
        self._key = coincurve.PrivateKey(private_key)
        public = self._key.public_key.format(compressed=False)[1:]
        self.address = to_checksum_address(keccak(public)[-20:])

    def __repr__(self) -> str:
        return f"Signer({self.address})"

    def sign_digest(self, digest: bytes) -> bytes:
        if len(digest) != 32:
            raise ValueError("digest must be 32 bytes")
        sig = self._key.sign_recoverable(digest, hasher=None)  # r(32) s(32) recid(1)
        return sig[:64] + bytes([sig[64] + 27])

    def private_key_bytes(self) -> bytes:
        """Only for handing the key to eth-account when signing transactions."""
        return self._key.secret


def recover(digest: bytes, signature: bytes) -> str:
    """The address that signed `digest`; raises ValueError on a malformed or high-s signature."""
    if len(signature) != 65:
        raise ValueError("signature must be 65 bytes")
    v = signature[64]
    if v not in (27, 28):
        raise ValueError("signature v must be 27 or 28")
    s = int.from_bytes(signature[32:64], "big")
    if s > SECP256K1_N // 2:
        raise ValueError("signature s is in the upper half order (malleable)")
    try:
        pub = coincurve.PublicKey.from_signature_and_message(
            signature[:64] + bytes([v - 27]), digest, hasher=None
        )
    except Exception as exc:  # coincurve raises plain Exception on invalid signatures
        raise ValueError(f"invalid signature: {exc}") from None
    return to_checksum_address(keccak(pub.format(compressed=False)[1:])[-20:])


# --- keystore -----------------------------------------------------------------------------------
def read_password(password: str | None = None, password_file: str | Path | None = None) -> str:
    """Password from the given value, else from a file (first line, trailing newline stripped)."""
    if password is not None:
        return password
    if password_file is not None:
        path = Path(password_file)
        if not path.is_file():
            raise KeyError_(f"password file not found: {path}")
        return path.read_text().splitlines()[0] if path.read_text() else ""
    raise KeyError_(
        "no keystore password: set ORACLE_KEYSTORE_PASSWORD or ORACLE_KEYSTORE_PASSWORD_FILE"
    )


def create_keystore(path: str | Path, password: str, private_key: bytes | None = None,
                    *, kdf_light: bool = False) -> str:
    """Encrypt a new (or given) key to `path` (mode 0600) and return its address.

    `kdf_light` uses scrypt n=2**14 instead of eth-account's 2**18: for tests only.
    """
    path = Path(path)
    if path.exists():
        raise KeyError_(f"refusing to overwrite existing keystore {path}")
    if not password:
        raise KeyError_("refusing to create a keystore with an empty password")
    key = private_key if private_key is not None else secrets.token_bytes(32)
    Signer(key)  # validates the key
    kwargs = {"iterations": 2**14} if kdf_light else {}
    blob = Account.encrypt(key, password, kdf="scrypt", **kwargs)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(blob, fh)
    return to_checksum_address("0x" + blob["address"])


def parse_private_key(text: str) -> bytes:
    text = text.strip()
    if text.startswith("0x"):
        text = text[2:]
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise KeyError_("private key is not hex") from None
    if len(key) != 32:
        raise KeyError_("private key must be 32 bytes")
    return key


def load_keystore(path: str | Path, password: str) -> Signer:
    path = Path(path)
    if not path.is_file():
        raise KeystoreNotFound(f"keystore not found: {path}")
    try:
        blob = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise KeyError_(f"keystore {path} is not JSON: {exc}") from None
    try:
        key = Account.decrypt(blob, password)
    except ValueError as exc:
        if "MAC mismatch" in str(exc):
            raise WrongPassword(f"wrong password for keystore {path}") from None
        raise KeyError_(f"cannot decrypt keystore {path}: {exc}") from None
    return Signer(bytes(key))


def signer_from_key_hex(text: str) -> Signer:
    return Signer(parse_private_key(text))


class RemoteSignerError(KeyError_):
    """The remote signer is unreachable, answered malformed, or signed as someone else."""


class RemoteSigner:
    """Signs 32-byte digests through a remote signing service (an HSM or KMS front end).

    Protocol: ``POST <url>`` with JSON ``{"address": "0x…", "digest": "0x…"}`` and, if a token is
    set, ``Authorization: Bearer <token>``; the answer is ``{"signature": "0x…"}`` (65 bytes,
    r‖s‖v). The signature must recover to `address`, else RemoteSignerError. The URL and token are
    never logged or put in an error message (a URL may carry credentials)."""

    def __init__(self, url: str, address: str, token: str | None = None, *,
                 timeout_s: float = 5.0) -> None:
        self.address = to_checksum_address(address)
        self._url = url
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._timeout = timeout_s
        self._http = requests.Session()

    def __repr__(self) -> str:
        return f"RemoteSigner({self.address})"

    def sign_digest(self, digest: bytes) -> bytes:
        if len(digest) != 32:
            raise ValueError("digest must be 32 bytes")
        try:
            r = self._http.post(self._url, json={"address": self.address,
                                                 "digest": "0x" + digest.hex()},
                                headers=self._headers, timeout=self._timeout)
            r.raise_for_status()
            sig = bytes.fromhex(str(r.json()["signature"]).removeprefix("0x"))
        except (ValueError, KeyError, TypeError):  # before: requests' JSON error is a ValueError too
            raise RemoteSignerError("remote signer answered malformed") from None
        except requests.RequestException as exc:
            # requests' messages name the URL; only the kind of failure is kept
            raise RemoteSignerError(f"remote signer unavailable ({type(exc).__name__})") from None
        try:
            who = recover(digest, sig)
        except ValueError as exc:
            raise RemoteSignerError(f"remote signer returned an invalid signature: {exc}") from None
        if who != self.address:
            raise RemoteSignerError(f"remote signer signed as {who}, expected {self.address}")
        return sig

    def private_key_bytes(self) -> bytes:
        raise RemoteSignerError("a remote signer holds no key here: transactions need a "
                                "transmitter key")


def public_key_of(private_key: bytes) -> str:
    return eth_keys.PrivateKey(private_key).public_key.to_checksum_address()


def check_first_k(digest: bytes, signatures: list, signers: set, k: int, check,
                  unknown: str = "not a signer of this configuration") -> list[str]:
    """As CreditScoreRegistry reads signatures: the first k must each recover to a distinct member
    of `signers`; any after them are not read. Reports `signature_<i>` through `check(name, ok,
    why)` and returns the signers recovered, in order."""
    seen: list[str] = []
    for i, sig in enumerate(signatures[:k]):
        try:
            who = recover(digest, sig)
        except ValueError as exc:
            check(f"signature_{i}", False, str(exc))
            continue
        check(f"signature_{i}", who in signers and who not in seen,
              f"{who} is {'a duplicate' if who in seen else unknown}")
        seen.append(who)
    return seen
