"""Errors of the chain edge."""


class ChainError(Exception):
    """An RPC call failed, or answered something that is not what the JSON-RPC spec says."""


class CircuitOpen(ChainError):
    """The circuit breaker is open: nothing is sent."""


class SendError(ChainError):
    """eth_sendRawTransaction refused the bytes; `cls` is its oracle.chain.send_errors class."""

    def __init__(self, cls: str, message: str) -> None:
        super().__init__(f"{cls}: {message}")
        self.cls = cls
        self.message = message


class EstimateReverted(ChainError):
    """eth_estimateGas says the transaction would revert; `data` is the revert data if any."""

    def __init__(self, message: str, data: object = None) -> None:
        from oracle.chain.revert_reasons import decode

        self.reason = decode(data)  # e.g. "CreditScoreNoOpenRequest(borrower=0x…)", or None
        super().__init__(f"{self.reason}: {message}" if self.reason else message)  # first: logs cut
        self.data = data
