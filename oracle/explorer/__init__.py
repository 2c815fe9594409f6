"""The explorer: a read-only web app over one deployment, for people who never open a console.

    oracle explorer --loan-manager 0x… [--data-anchor 0x…] [--port 8700]   (RPC: ORACLE_RPC_URL)

Pages (HTML) and the same data as JSON under /api/: loans with their states and event history,
scores (PD, score band, reason texts, model), the model registry, the oracle signer set, the
compliance rule versions and anchored data batches. Everything comes from public chain data
(oracle/explorer/view.py); the app keeps no state and writes nothing.
"""
