"""Scorechain oracle: a k-of-n EIP-712 credit-score oracle node. See oracle/README.md."""

__version__ = "0.1.0"
