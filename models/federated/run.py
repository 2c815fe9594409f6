"""One federation, run for real on this machine: a Flower server and one Flower client per
institution talking over gRPC on 127.0.0.1 (Flower's own transport, as across machines), each
client in a process of its own that is given its own institution's rows only; the server sees
parameters, counts and signed hashes. (Clients as threads of one process crashed: NumPy parses
each received tensor's header with ``ast.literal_eval``, and CPython 3.11's parser is not safe
under concurrent threads: "AST constructor recursion depth mismatch".)

Not yet over the wire: the statistics round before training. The sketches and moments
(models.federated.stats) are computed per lender, by the code a lender would run, but in this
process, which therefore holds every lender's rows while it prepares the run; only the training
rounds travel over Flower.

Flower 1.32's deployment engine (SuperLink and SuperNodes) works offline too but starts a process
per task (about 6 s a round here); its simulation engine needs Ray. This uses the pieces of
Flower's ``start_server`` directly (``start_grpc_server``, ``Server.fit``) so that the server
binds before the clients connect, waits for them with a time limit and always stops; the clients
use ``flwr.client.start_client`` (deprecated in 1.32 but the transport ``start_server`` speaks).
"""
from __future__ import annotations

import logging
import multiprocessing as mp
import secrets
import socket
import time

import numpy as np
import xgboost as xgb
from eth_account import Account
from flwr.client import start_client
from flwr.common import Parameters, ndarrays_to_parameters, parameters_to_ndarrays
from flwr.common.logger import FLOWER_LOGGER
from flwr.server import Server, SimpleClientManager
from flwr.server.superlink.fleet.grpc_bidi.grpc_server import start_grpc_server
from flwr.supercore.grpc import GRPC_MAX_MESSAGE_LENGTH

from .. import metrics as M
from ..families import monotonic_cst
from ..preprocess import TabularPrep
from .boosting import XgbLender, booster
from .client import LenderClient
from .partition import partition
from .stats import federated_preprocessing, merge_sketches, sketch
from .strategy import recording_strategy

MODELS = ("logistic", "xgb")

# Local training each round (full-batch gradient steps on standardised features).
LOCAL = {"local_steps": 25, "lr": 0.5, "l2": 1e-4}


def coefficient_signs(prep, schema: dict) -> np.ndarray:
    """+1 / -1 / 0 per model column (TabularPrep's one-hot layout: numeric, missing indicators,
    one-hot categories) from the schema's declared directions."""
    sign = {"increasing": 1.0, "decreasing": -1.0}
    feats = schema["features"]
    return np.array([sign.get(feats[i].get("monotone"), 0.0) for i in prep.numeric_idx]
                    + [0.0] * (prep.n_features_out_ - len(prep.numeric_idx)))


class BoundedClientManager(SimpleClientManager):
    """Flower's client manager waits up to a day for enough clients before each round; a lender
    that died would hang the federation for that long. This one waits ``timeout`` seconds and
    then fails the run with the reason."""

    def __init__(self, timeout: float):
        super().__init__()
        self.timeout = timeout

    def wait_for(self, num_clients: int, timeout: int = 0) -> bool:
        if not super().wait_for(num_clients, timeout=int(self.timeout)):
            raise TimeoutError(f"{self.num_available()} of {num_clients} lenders connected after "
                               f"{self.timeout:.0f} s")
        return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(address: str, timeout: float = 30.0) -> None:
    """The client's transport does not retry a refused connection: connect only once the
    server listens."""
    host, port = address.rsplit(":", 1)
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((host, int(port)), timeout=1.0).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _lender(address: str, model: str, name: str, key: str, federation: str, Z, y, constraint,
            poison) -> None:
    """A lender's process: its rows, its key, one Flower client until the server lets it go."""
    FLOWER_LOGGER.setLevel(logging.ERROR)  # Flower's deprecation notice for start_client
    _wait_for_port(address)
    if model == "xgb":
        client = XgbLender(name, key, federation, Z, y, constraint, poison)
    else:
        client = LenderClient(name, key, federation, Z, y, constraint, poison).to_client()
    start_client(server_address=address, client=client, insecure=True)


def _tree_preprocessing(schema: dict, parts: list) -> TabularPrep:
    """The tree layout (raw values, missing indicators, category codes), its medians merged from
    the lenders' sketches."""
    prep = TabularPrep.from_schema(schema, one_hot=False, clip=False, log=False)
    return prep.fit_from_statistics(merge_sketches(prep, [sketch(prep, X) for X in parts]))


def run_federation(ds, sp, *, model: str = "logistic", strategy: str = "fedavg",
                   rounds: int = 10, poison: dict[str, str] | None = None,
                   keys: dict[str, str] | None = None, round_timeout: float = 120.0) -> dict:
    """Train the shared model: ``logistic`` (any weight-averaging strategy) or ``xgb`` (Flower's
    FedXgbBagging). ``poison``: lender name -> "flip" or (logistic only) "scale".
    ``keys``: lender name -> private key (hex); lenders without one get a fresh key for this run
    only (never stored). Returns the final parameters, the preprocessing, the round records, the
    updates (what consortium members receive) and the holdout AUC after each round."""
    FLOWER_LOGGER.setLevel(logging.ERROR)  # Flower's deprecation notices, once per client
    logging.getLogger("alembic").setLevel(logging.WARNING)  # imported by Flower, chatty at INFO
    institutions = partition(ds, sp)
    names = [i.name for i in institutions]
    unknown = set(poison or {}) - set(names)
    if unknown:
        raise ValueError(f"no such lender: {', '.join(sorted(unknown))}")
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}")
    if (model == "xgb") != (strategy == "xgb_bagging"):
        raise ValueError("the xgb model trains with the xgb_bagging strategy, and only it")
    keys = {n: (keys or {}).get(n) or "0x" + secrets.token_hex(32) for n in names}
    members = {n: Account.from_key(keys[n]).address for n in names}
    federation = secrets.token_hex(8)
    parts = [ds.X[i.idx] for i in institutions]
    yh = ds.y[sp.holdout_idx]
    auc_by_round = []
    if model == "xgb":
        prep, scaler = _tree_preprocessing(ds.schema, parts), None
        rows = {i.name: prep.transform(ds.X[i.idx]) for i in institutions}
        constraint = monotonic_cst(ds.schema)
        # the pooled default rate, from each lender's count of rows and of defaults
        base_score = sum(float(ds.y[i.idx].sum()) for i in institutions) / sum(
            len(i.idx) for i in institutions)
        Xh = xgb.DMatrix(prep.transform(ds.X[sp.holdout_idx]).astype(np.float32))

        def evaluate(server_round, parameters, config):
            if server_round == 0 or not parameters.tensors:
                return None
            auc_by_round.append(M.auc(yh, booster({}, parameters.tensors[0]).predict(Xh)))
            return 0.0, {"holdout_auc": auc_by_round[-1]}

        initial = Parameters(tensor_type="", tensors=[])
        extra = {"evaluate_function": evaluate}
        fit_config = {"base_score": base_score}
    else:
        prep, scaler = federated_preprocessing(ds.schema, parts)
        rows = {i.name: scaler.transform(prep.transform(ds.X[i.idx])) for i in institutions}
        constraint = coefficient_signs(prep, ds.schema)
        Zh = scaler.transform(prep.transform(ds.X[sp.holdout_idx]))

        def evaluate(server_round, arrays, config):  # the aggregator's own check on the holdout
            if server_round == 0:
                return None
            w, b = arrays
            auc_by_round.append(M.auc(yh, Zh @ w.astype(np.float64) + float(b[0])))
            return 0.0, {"holdout_auc": auc_by_round[-1]}

        d = prep.n_features_out_
        initial = ndarrays_to_parameters([np.zeros(d, np.float32), np.zeros(1, np.float32)])
        extra = {"evaluate_fn": evaluate}
        fit_config = LOCAL

    strat = recording_strategy(
        strategy, members, federation, fraction_fit=1.0, fraction_evaluate=0.0,
        min_fit_clients=len(names), min_available_clients=len(names),
        initial_parameters=initial, on_fit_config_fn=lambda rnd: {**fit_config, "round": rnd},
        fit_metrics_aggregation_fn=lambda m: {"lenders": len(m)}, **extra)
    server = Server(client_manager=BoundedClientManager(timeout=round_timeout), strategy=strat)
    address = f"127.0.0.1:{_free_port()}"

    t0 = time.time()
    grpc_server = start_grpc_server(client_manager=server.client_manager(),
                                    server_address=address,
                                    max_message_length=GRPC_MAX_MESSAGE_LENGTH)
    spawn = mp.get_context("spawn")  # never fork a process that runs gRPC threads
    procs = [spawn.Process(target=_lender, daemon=True, args=(
        address, model, i.name, keys[i.name], federation, rows[i.name], ds.y[i.idx], constraint,
        (poison or {}).get(i.name))) for i in institutions]
    try:
        for p in procs:
            p.start()
        server.client_manager().wait_for(len(names))
        server.fit(num_rounds=rounds, timeout=round_timeout)
        server.disconnect_all_clients(timeout=round_timeout)
    finally:
        grpc_server.stop(grace=1).wait()
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
    final = server.parameters
    return {"federation": federation, "model": model, "strategy": strategy, "rounds": rounds,
            "institutions": [i.summary(ds.y) for i in institutions], "members": members,
            "poison": poison or {}, "final": final,
            "params": parameters_to_ndarrays(final) if model == "logistic" else None,
            "prep": prep, "scaler": scaler, "records": strat.records, "updates": strat.updates,
            "holdout_auc_by_round": auc_by_round, "seconds": time.time() - t0,
            "local": LOCAL if model == "logistic" else {"trees_per_round": 1}}

