"""Revert data in words: `CreditScoreNoOpenRequest(borrower=0x…)` instead of `0x3f1c…`.

eth_estimateGas and eth_call answer a revert with its ABI-encoded data. The selectors of every
custom error in the bundled ABIs (oracle.abi), Solidity's `Error(string)` and `Panic(uint256)`
are decoded with eth_abi; anything else (an unknown selector, malformed data) decodes to None, so
a log line shows the raw data instead of a guess.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import keccak

from oracle.abi import CONTRACTS, load_abi

_BUILTIN = {"08c379a0": ("Error", ["string"], ["reason"]),
            "4e487b71": ("Panic", ["uint256"], ["code"])}


@lru_cache(maxsize=1)
def _errors() -> dict[str, tuple[str, list[str], list[str]]]:
    out = dict(_BUILTIN)
    for contract in CONTRACTS:
        for e in load_abi(contract):
            if e.get("type") != "error":
                continue
            types = [i["type"] for i in e.get("inputs", [])]
            selector = keccak(text=f"{e['name']}({','.join(types)})")[:4].hex()
            out[selector] = (e["name"], types, [i.get("name") or f"arg{n}"
                                                for n, i in enumerate(e.get("inputs", []))])
    return out


def _hex(data: Any) -> str | None:
    if isinstance(data, dict):  # some clients nest it: {"data": "0x…"} or {"result": …}
        data = data.get("data") or data.get("result")
    if isinstance(data, (bytes, bytearray)):
        return bytes(data).hex()
    if isinstance(data, str) and data.startswith("0x"):
        return data[2:]
    return None


def decode(data: Any) -> str | None:
    """`Name(arg=value, …)` for known revert data, else None."""
    raw = _hex(data)
    if raw is None or len(raw) < 8:
        return None
    known = _errors().get(raw[:8].lower())
    if known is None:
        return None
    name, types, names = known
    try:
        values = abi_decode(types, bytes.fromhex(raw[8:]))
    except Exception:  # noqa: BLE001 - malformed data is reported raw by the caller
        return None
    shown = [("0x" + v.hex()) if isinstance(v, bytes) else v for v in values]
    return f"{name}({', '.join(f'{n}={v}' for n, v in zip(names, shown))})"
