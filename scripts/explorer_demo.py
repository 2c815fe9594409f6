"""`make explorer`: the explorer over the chain of the last `make demo` (anvil).

    make demo && make explorer          # then open http://127.0.0.1:8700/

The demo saves anvil's whole state (blocks, receipts and logs included) and the deployment's
addresses when it finishes (scripts/demo.py, save_chain: anvil_dumpState's gzipped JSON, as hex);
this starts a new anvil from that state (`--load-state`, a file: a long chain's state is larger than
anvil takes in one JSON-RPC request) and serves `oracle explorer` over it, with the committed
default model for the verify action, until Ctrl-C. Nothing is written to the checkout.
"""

from __future__ import annotations

import argparse
import gzip
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STATE_FILE = ROOT / ".scorechain" / "demo-anvil" / "chain-state.json"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from models import add_version_argument
    add_version_argument(parser, "explorer_demo")
    parser.add_argument("--port", type=int, default=8700, help="the explorer's port")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--state", type=Path, default=STATE_FILE, help="a saved chain (default: the last demo's)")
    parser.add_argument("--model", type=Path, help="model bundle for the verify action (default: the committed "
                        "default model, the demo's v1; its v2 bundle is under reports/models/)")
    args = parser.parse_args(argv)
    if not args.state.is_file():
        print(f"no saved demo chain at {args.state}: run `make demo` first", file=sys.stderr)
        return 2
    saved = json.loads(args.state.read_text())
    rpc_port = _free_port()
    tmp = tempfile.TemporaryDirectory(prefix="scorechain-explorer-")
    state_json = Path(tmp.name) / "state.json"
    state_json.write_bytes(gzip.decompress(bytes.fromhex(saved["state"].removeprefix("0x"))))
    anvil = subprocess.Popen([str(ROOT / "node_modules/.bin/anvil"), "--port", str(rpc_port), "--silent",
                              "--chain-id", str(saved["chain_id"]), "--load-state", str(state_json)])
    try:
        import uvicorn
        from web3 import HTTPProvider, Web3

        from oracle.chain import Chain
        from oracle.explorer.app import create_app
        from oracle.explorer.view import ChainView
        from oracle.settings import DEFAULT_MODEL_PATH, load_settings

        w3 = Web3(HTTPProvider(f"http://127.0.0.1:{rpc_port}"))
        deadline = time.monotonic() + 60
        while not w3.is_connected():
            if time.monotonic() > deadline or anvil.poll() is not None:
                print("anvil did not start from the saved state", file=sys.stderr)
                return 1
            time.sleep(0.1)
        addresses = saved["addresses"]
        view = ChainView(w3, addresses["loan_manager"], data_anchor=addresses["data_anchor"])
        chain = Chain(load_settings(env={}, rpc_url=f"http://127.0.0.1:{rpc_port}",
                                    registry_address=view.registry.address), w3=w3)
        app = create_app(view, chain=chain, model_path=args.model or DEFAULT_MODEL_PATH)
        print(f"explorer of the demo's chain ({view.loan_count()} loans, block {w3.eth.block_number}): "
              f"http://{args.host}:{args.port}/  (Ctrl-C stops it)", flush=True)
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    finally:
        anvil.terminate()
        anvil.wait(10)
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
