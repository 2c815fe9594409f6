"""Errors of the chain edge."""


class ChainError(Exception):
    """An RPC call failed, or answered something that is not what the JSON-RPC spec says."""


class CircuitOpen(ChainError):
    """The circuit breaker is open: nothing is sent."""
