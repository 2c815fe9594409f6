"""One federation, run for real on this machine: a Flower server and one Flower client per
institution talking over gRPC on 127.0.0.1 (Flower's own transport, as across machines), each
client in a process of its own that is given its own institution's rows only; the server sees
parameters, counts and signed hashes. (Clients as threads of one process crashed: NumPy parses
each received tensor's header with ``ast.literal_eval``, and CPython 3.11's parser is not safe
under concurrent threads: "AST constructor recursion depth mismatch".)

The statistics rounds before training travel the same way (models.federated.stats_round): this
process splits the data set into institutions (the simulation of separate lenders) and hands each
lender process its own rows; it never summarises them itself. What it knows of the training rows
arrives over Flower: sketches, moments, counts and signed updates. It also holds the frozen
holdout, to measure each round as an aggregator's own validation set would.

Flower 1.32's deployment engine (SuperLink and SuperNodes) works offline too but starts a process
per task (about 6 s a round here); its simulation engine needs Ray. This uses the pieces of
Flower's ``start_server`` directly (``start_grpc_server``, ``Server.fit``) so that the server
binds before the clients connect, waits for them with a time limit and always stops; the clients
use ``flwr.client.start_client`` (deprecated in 1.32 but the transport ``start_server`` speaks).
"""
from __future__ import annotations

import json
import logging
import multiprocessing as mp
import secrets
import socket
import time
from pathlib import Path

import numpy as np
import xgboost as xgb
from eth_account import Account
from flwr.client import start_client
from flwr.common import Parameters, ReconnectIns, ndarrays_to_parameters, parameters_to_ndarrays
from flwr.common.logger import FLOWER_LOGGER
from flwr.server import Server, SimpleClientManager
from flwr.server.superlink.fleet.grpc_bidi.grpc_server import start_grpc_server
from flwr.supercore.grpc import GRPC_MAX_MESSAGE_LENGTH

from .. import metrics as M
from .boosting import booster
from .lender import Lender, encode, prep_for
from .partition import partition
from .stats import merge_sketches, scaler_from_moments
from .stats_round import collect
from .strategy import recording_strategy

MODELS = ("logistic", "xgb")

# Local training each round (full-batch gradient steps on standardised features).
LOCAL = {"local_steps": 25, "lr": 0.5, "l2": 1e-4}


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


def _lender(address: str, model: str, name: str, key: str, federation: str, schema: dict,
            X, y, poison) -> None:
    """A lender's process: its own raw rows and key, one Flower client until the server lets it
    go."""
    FLOWER_LOGGER.setLevel(logging.ERROR)  # Flower's deprecation notice for start_client
    _wait_for_port(address)
    client = Lender(name, key, federation, model, schema, X, y, poison)
    start_client(server_address=address, client=client, insecure=True)


def _answer_sketch(answer: dict) -> dict:
    s = answer["sketch"]
    return {"n_features_in": s["n_features_in"],
            "columns": [{"n": c["n"], "values": np.asarray(c["values"], dtype=np.float64)}
                        for c in s["columns"]]}


def _preprocessing(model: str, schema: dict, cm, members: dict, federation: str,
                   timeout: float) -> tuple:
    """The statistics rounds over Flower: (prep, scaler or None, what round 1 sends the lenders,
    the pooled default rate, the statistics: each phase's records and answers as sent)."""
    sketches, rec_sketch, raw_sketch = collect(
        cm, "sketch", {"round": 0, "federation": federation, "model": model}, members,
        federation, timeout)
    prep = prep_for(model, schema)
    merged = merge_sketches(prep, [_answer_sketch(a) for a in sketches.values()])
    prep.fit_from_statistics(merged)
    base_rate = (sum(a["defaults"] for a in sketches.values())
                 / sum(a["rows"] for a in sketches.values()))
    records, sent = {"sketch": rec_sketch}, {"sketch": raw_sketch}
    broadcast = {"statistics": merged}
    scaler = None
    if model == "logistic":
        answers, records["moments"], sent["moments"] = collect(
            cm, "moments", {"round": 0, "statistics": encode(merged)}, members, federation,
            timeout)
        parts = [{k: (v if k == "n" else np.asarray(v, dtype=np.float64))
                  for k, v in a["moments"].items()} for a in answers.values()]
        scaler = scaler_from_moments(parts)
        pooled = {"n": sum(m["n"] for m in parts), "sum": sum(m["sum"] for m in parts),
                  "sumsq": sum(m["sumsq"] for m in parts)}
        broadcast["moments"] = pooled
    return prep, scaler, encode(broadcast), base_rate, {"records": records, "sent": sent}


def _check(model: str, strategy: str) -> None:
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}")
    if (model == "xgb") != (strategy == "xgb_bagging"):
        raise ValueError("the xgb model trains with the xgb_bagging strategy, and only it")


def aggregate(cm, schema: dict, members: dict[str, str], federation: str, *, model: str,
              strategy: str, rounds: int, round_timeout: float, holdout=None,
              after=None) -> dict:
    """The aggregator's run once every member has connected to ``cm``: the statistics rounds,
    then ``rounds`` training rounds. ``holdout``: (X, y) the aggregator measures each round on,
    or None (an aggregator without data). ``after(run, ask)``: called once training is over and
    before the lenders are let go, with ``ask(phase, request)`` returning every lender's signed
    answer to a statistics request (the export's references); its result is ``run["after"]``.
    Returns what :func:`run_federation` documents, without the lenders' details it does not
    know."""
    t0 = time.time()
    if len(set(members.values())) != len(members):
        # one key behind two names would count one institution twice (its weight, its vote)
        raise ValueError("two lenders share one address: each member needs its own key")
    prep, scaler, broadcast, base_rate, statistics = _preprocessing(
        model, schema, cm, members, federation, round_timeout)
    auc_by_round = []
    if holdout is not None:
        yh = holdout[1]
        Zh = prep.transform(holdout[0])
    if model == "xgb":
        def evaluate(server_round, parameters, config):
            if holdout is None or server_round == 0 or not parameters.tensors:
                return None
            p = booster({}, parameters.tensors[0]).predict(xgb.DMatrix(Zh.astype(np.float32)))
            auc_by_round.append(M.auc(yh, p))
            return 0.0, {"holdout_auc": auc_by_round[-1]}

        initial = Parameters(tensor_type="", tensors=[])
        extra = {"evaluate_function": evaluate}
        # every lender starts from the pooled default rate, from the lenders' counts
        fit_config = {"base_score": base_rate}
    else:
        if holdout is not None:
            Zh = scaler.transform(Zh)

        def evaluate(server_round, arrays, config):  # the aggregator's own holdout check
            if holdout is None or server_round == 0:
                return None
            w, b = arrays
            auc_by_round.append(M.auc(yh, Zh @ w.astype(np.float64) + float(b[0])))
            return 0.0, {"holdout_auc": auc_by_round[-1]}

        d = prep.n_features_out_
        initial = ndarrays_to_parameters([np.zeros(d, np.float32), np.zeros(1, np.float32)])
        extra = {"evaluate_fn": evaluate}
        fit_config = LOCAL

    def round_config(rnd: int) -> dict:
        first = {"preprocessing": broadcast} if rnd == 1 else {}
        return {**fit_config, **first, "round": rnd}

    strat = recording_strategy(
        strategy, members, federation, fraction_fit=1.0, fraction_evaluate=0.0,
        min_fit_clients=len(members), min_available_clients=len(members),
        initial_parameters=initial, on_fit_config_fn=round_config,
        fit_metrics_aggregation_fn=lambda m: {"lenders": len(m)}, **extra)
    server = Server(client_manager=cm, strategy=strat)
    server.fit(num_rounds=rounds, timeout=round_timeout)
    final = server.parameters
    sketches = {u.institution: json.loads(statistics["sent"]["sketch"][u.institution])
                for u in statistics["records"]["sketch"]}
    run = {"federation": federation, "model": model, "strategy": strategy, "rounds": rounds,
            "institutions": [{"name": n, "rows": a["rows"],
                              "default_rate": a["defaults"] / max(1, a["rows"])}
                             for n, a in sketches.items()],
            "members": members, "poison": {}, "final": final,
            "params": parameters_to_ndarrays(final) if model == "logistic" else None,
            "prep": prep, "scaler": scaler, "records": strat.records, "updates": strat.updates,
            "statistics": statistics, "holdout_auc_by_round": auc_by_round,
            "local": LOCAL if model == "logistic" else {"trees_per_round": 1}}
    if after is not None:
        def ask(phase: str, request: dict) -> dict:
            answers, statistics["records"][phase], statistics["sent"][phase] = collect(
                cm, phase, {"round": 0, "request": encode(request)}, members, federation,
                round_timeout)
            return answers
        run["after"] = after(run, ask)
    server.disconnect_all_clients(timeout=round_timeout)
    return {**run, "seconds": time.time() - t0}


def serve(address: str, schema: dict, members: dict[str, str], federation: str, *,
          model: str, strategy: str, rounds: int, round_timeout: float = 600.0,
          certificates: tuple[bytes, bytes, bytes] | None = None, holdout=None,
          after=None) -> dict:
    """The aggregator on its own machine (``python -m models federated-serve``): listens on
    ``address`` (TLS with ``certificates`` = CA, certificate, key), waits up to
    ``round_timeout`` for every member, runs the federation (``holdout`` and ``after`` as
    :func:`aggregate` takes them) and stops."""
    _check(model, strategy)
    FLOWER_LOGGER.setLevel(logging.ERROR)
    cm = BoundedClientManager(timeout=round_timeout)
    grpc_server = start_grpc_server(client_manager=cm, server_address=address,
                                    max_message_length=GRPC_MAX_MESSAGE_LENGTH,
                                    certificates=certificates)
    try:
        cm.wait_for(len(members))
        return aggregate(cm, schema, members, federation, model=model, strategy=strategy,
                         rounds=rounds, round_timeout=round_timeout, holdout=holdout,
                         after=after)
    except BaseException:
        _release(cm)
        raise
    finally:
        grpc_server.stop(grace=1).wait()


def _release(cm) -> None:
    """Tell every connected lender the federation is over (as Flower does at its end), so that
    stopping the server does not break their streams mid-message."""
    for proxy in list(cm.all().values()):
        try:
            proxy.reconnect(ReconnectIns(seconds=None), timeout=5, group_id=None)
        except Exception:  # noqa: BLE001 - a lender already gone needs no goodbye
            pass


def lend(address: str, name: str, key: str, federation: str, model: str, schema: dict, X, y,
         root_certificates: bytes | None = None, wait: float = 600.0) -> None:
    """A lender on its own machine (``python -m models federated-lend``): its rows, its key, one
    Flower client until the aggregator lets it go; waits up to ``wait`` s for it to listen."""
    FLOWER_LOGGER.setLevel(logging.ERROR)
    client = Lender(name, key, federation, model, schema, X, y)
    _wait_for_port(address, timeout=wait)  # a lender may start before the aggregator listens
    start_client(server_address=address, client=client, insecure=root_certificates is None,
                 root_certificates=root_certificates)


def run_federation(ds, sp, *, model: str = "logistic", strategy: str = "fedavg",
                   rounds: int = 10, poison: dict[str, str] | None = None,
                   keys: dict[str, str] | None = None, round_timeout: float = 120.0,
                   clients: int | None = None, export: Path | None = None) -> dict:
    """Train the shared model: ``logistic`` (any weight-averaging strategy) or ``xgb`` (Flower's
    FedXgbBagging), among ``clients`` lenders (models.federated.partition; default: the data
    set's own split). ``poison``: lender name -> "flip" or (logistic only) "scale".
    ``keys``: lender name -> private key (hex); lenders without one get a fresh key for this run
    only (never stored). Each lender process gets its own rows; the preprocessing comes from the
    statistics rounds, the model from the training rounds, all over Flower. Returns the final
    parameters, the preprocessing, the round and statistics records, the updates (what
    consortium members receive) and the holdout AUC after each round. ``export``: a directory
    to export the model to as a bundle (models.federated.export) before the lenders
    leave; its card is ``run["after"]``."""
    FLOWER_LOGGER.setLevel(logging.ERROR)  # Flower's deprecation notices, once per client
    logging.getLogger("alembic").setLevel(logging.WARNING)  # imported by Flower, chatty at INFO
    institutions = partition(ds, sp, clients)
    names = [i.name for i in institutions]
    unknown = set(poison or {}) - set(names)
    if unknown:
        raise ValueError(f"no such lender: {', '.join(sorted(unknown))}")
    _check(model, strategy)
    keys = {n: (keys or {}).get(n) or "0x" + secrets.token_hex(32) for n in names}
    members = {n: Account.from_key(keys[n]).address for n in names}
    federation = secrets.token_hex(8)
    cm = BoundedClientManager(timeout=round_timeout)
    address = f"127.0.0.1:{_free_port()}"

    t0 = time.time()
    grpc_server = start_grpc_server(client_manager=cm, server_address=address,
                                    max_message_length=GRPC_MAX_MESSAGE_LENGTH)
    spawn = mp.get_context("spawn")  # never fork a process that runs gRPC threads
    procs = [spawn.Process(target=_lender, daemon=True, args=(
        address, model, i.name, keys[i.name], federation, ds.schema, ds.X[i.idx], ds.y[i.idx],
        (poison or {}).get(i.name))) for i in institutions]
    try:
        for p in procs:
            p.start()
        cm.wait_for(len(names))
        after = None
        if export is not None:
            from .export import export_run

            def after(partial, ask):
                from ..train import GateFailure
                try:
                    return export_run({**partial, "institutions": [
                        i.summary(ds.y) for i in institutions]}, ds, sp, Path(export), ask)
                except GateFailure as exc:  # the run stands (and is saved); the bundle does not
                    return {"gate_failure": str(exc)}
        run = aggregate(cm, ds.schema, members, federation, model=model, strategy=strategy,
                        rounds=rounds, round_timeout=round_timeout,
                        holdout=(ds.X[sp.holdout_idx], ds.y[sp.holdout_idx]), after=after)
    finally:
        grpc_server.stop(grace=1).wait()
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
    return {**run, "institutions": [i.summary(ds.y) for i in institutions],
            "poison": poison or {}, "seconds": time.time() - t0}
