"""What an `eth_sendRawTransaction` error means, from the messages of the clients the node meets:
geth and its forks (Erigon, Nethermind and most providers use geth's words), anvil and Ganache 7.
The transaction manager acts on the class, never on the text:

| class | meaning | the manager |
| --- | --- | --- |
| `known` | these bytes are already in the pool or a block | success |
| `nonce_used` | the account nonce is taken (mined, or being mined) | resolve() sorts out which |
| `underpriced` | fee below the pool's floor, the base fee, or a replacement's +10 % | wait, then bump |
| `insufficient_funds` | the transmitter cannot pay | error; low-balance alarm |
| `gas_limit` | gas over the block's limit or under the intrinsic cost | error (a bug or a config) |
| `reverts` | the client simulated it and it reverts | counts as a revert attempt |
| `transient` | the RPC timed out, refused, or answered 5xx/garbage | retried (same bytes) |
| `unknown` | anything else | error, logged with the message |
"""

from __future__ import annotations

import re

KNOWN = "known"
NONCE_USED = "nonce_used"
UNDERPRICED = "underpriced"
INSUFFICIENT_FUNDS = "insufficient_funds"
GAS_LIMIT = "gas_limit"
REVERTS = "reverts"
TRANSIENT = "transient"
UNKNOWN = "unknown"

# (class, pattern) in order; lower-cased message. The comments name the client that says it.
_RULES: tuple[tuple[str, str], ...] = (
    (KNOWN, r"already known"),                                        # geth
    (KNOWN, r"known transaction"),                                    # geth (old), parity
    (KNOWN, r"already imported"),                                     # anvil, ganache
    (NONCE_USED, r"nonce too low"),                                   # geth, anvil
    (NONCE_USED, r"doesn't have the correct nonce"),                  # ganache
    (NONCE_USED, r"mining has already started"),                      # ganache (instamine race)
    (UNDERPRICED, r"replacement transaction underpriced"),            # geth, anvil, ganache
    (UNDERPRICED, r"transaction underpriced"),                        # geth, ganache
    (UNDERPRICED, r"max fee per gas less than block base fee"),       # geth
    (UNDERPRICED, r"fee cap less than block base fee"),               # anvil
    (UNDERPRICED, r"max ?fee ?per ?gas .*(too low|less than)"),       # anvil, ganache variants
    (INSUFFICIENT_FUNDS, r"insufficient funds"),                      # all
    (GAS_LIMIT, r"exceeds block gas limit"),                          # geth, ganache
    (GAS_LIMIT, r"gas limit is greater than block gas limit"),       # anvil
    (GAS_LIMIT, r"intrinsic gas too low"),                            # geth, anvil, ganache
    (REVERTS, r"execution reverted"),                                 # geth, anvil
    (REVERTS, r"vm exception while processing transaction"),          # ganache
    (TRANSIENT, r"timed? ?out|timeout|connection (refused|reset|aborted)|"
                r"max retries exceeded|bad gateway|service unavailable|"
                r"too many requests|429|502|503|504|could not decode|invalid json|"
                r"expecting value"),                                  # transport, providers
)
_COMPILED = tuple((cls, re.compile(p)) for cls, p in _RULES)


def classify(error: BaseException | str) -> str:
    """The class of a send error (one of the module's constants)."""
    if isinstance(error, (ConnectionError, TimeoutError)):
        return TRANSIENT
    text = str(error).lower()
    for cls, pattern in _COMPILED:
        if pattern.search(text):
            return cls
    name = type(error).__name__.lower() if not isinstance(error, str) else ""
    if any(x in name for x in ("timeout", "connection")):
        return TRANSIENT
    return UNKNOWN
