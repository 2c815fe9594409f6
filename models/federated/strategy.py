"""The aggregator's side: any of Flower's strategies, wrapped so that every round it checks who
sent each update, records what it aggregated, and keeps the updates for the consortium.

Before aggregation, an update is accepted only if its hash is the one the lender signed and the
signature recovers the address the consortium registered for that lender (one update per
lender); others are refused and recorded with the reason. Accepted updates are aggregated in
lender order, not arrival order, so the aggregate is a function of the updates alone and a member
recomputes it bit for bit (:func:`recompute`).
"""
from __future__ import annotations

import numpy as np
from flwr.common import (Code, FitRes, Parameters, Status, ndarrays_to_parameters,
                         parameters_to_ndarrays)
from flwr.server.strategy import FedAvg, FedMedian, FedProx, FedTrimmedAvg, FedXgbBagging, Krum

from .protocol import RoundRecord, UpdateRecord, params_sha256, signer_of

# name: (Flower strategy, its arguments). Krum is told to expect one attacker.
STRATEGIES = {
    "fedavg": (FedAvg, {}),
    "fedprox": (FedProx, {"proximal_mu": 0.1}),
    "fedmedian": (FedMedian, {}),
    "fedtrimmedavg": (FedTrimmedAvg, {}),
    "krum": (Krum, {"num_malicious_clients": 1, "num_clients_to_keep": 0}),
    # Flower's federated XGBoost: each lender adds trees to the global booster every round and
    # the aggregate is the booster with all of them (models/federated/boosting.py)
    "xgb_bagging": (FedXgbBagging, {}),
}
# Strategies whose aggregate depends on the previous round's (the booster grows round by round).
STATEFUL = {"xgb_bagging"}


def strategy_args(name: str, n_members: int) -> dict:
    """The Flower arguments of ``name`` for ``n_members`` lenders: FedTrimmedAvg cuts
    int(beta * n) at each end, so beta is set to cut exactly one lender at each end (a fixed
    0.25 cut nobody out of three)."""
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; choose from {', '.join(STRATEGIES)}")
    extra = dict(STRATEGIES[name][1])
    if name == "fedtrimmedavg":
        extra["beta"] = 1.0001 / n_members
    return extra


def recording_strategy(name: str, members: dict[str, str], federation: str, **flower_kw):
    """A Flower strategy of kind ``name`` that checks and records every round.
    ``members``: lender name -> registered address."""
    base, extra = STRATEGIES[name][0], strategy_args(name, len(members))

    class Recording(base):
        def __init__(self):
            super().__init__(**extra, **flower_kw)
            self.records: list[RoundRecord] = []
            self.updates: dict[int, dict[str, list]] = {}
            init = flower_kw.get("initial_parameters")
            self.initial_shapes = ([a.shape for a in parameters_to_ndarrays(init)]
                                   if init is not None and init.tensor_type == "numpy.ndarray"
                                   else None)

        def aggregate_fit(self, server_round, results, failures):
            accepted, refused, seen = [], [], set()
            for proxy, res in sorted(results, key=lambda r: str(r[1].metrics.get("institution"))):
                who, digest = str(res.metrics.get("institution")), params_sha256(res.parameters)
                why = None
                if who not in members:
                    why = "not a member"
                elif who in seen:
                    why = "second update in the round"
                elif digest != res.metrics.get("update_sha256"):
                    why = "update does not match the hash it was signed for"
                elif (problem := _malformed(res.parameters, self.initial_shapes)):
                    why = problem
                else:
                    try:
                        signer = signer_of(str(res.metrics.get("signature")), federation,
                                           server_round, who, digest)
                    except Exception:  # malformed signature bytes
                        signer = None
                    if signer != members[who]:
                        why = "signature is not the member's"
                if why:
                    refused.append({"institution": who, "sha256": digest, "why": why})
                    continue
                seen.add(who)
                accepted.append((proxy, res))
            params, metrics = super().aggregate_fit(server_round, accepted, failures)
            self.records.append(RoundRecord(
                round=server_round, strategy=name, strategy_args=extra,
                updates=[UpdateRecord(str(r.metrics["institution"]),
                                      members[str(r.metrics["institution"])], r.num_examples,
                                      str(r.metrics["update_sha256"]), str(r.metrics["signature"]),
                                      r.parameters.tensor_type,
                                      sum(len(t) for t in r.parameters.tensors),
                                      sorted(r.metrics))
                         for _, r in accepted],
                aggregate_sha256=params_sha256(params) if params is not None else None,
                refused=refused))
            self.updates[server_round] = {str(r.metrics["institution"]): r.parameters
                                          for _, r in accepted}
            return params, metrics

    Recording.__name__ = f"Recording{base.__name__}"
    return Recording()


def _malformed(params: Parameters, shapes) -> str | None:
    """Why a signed numpy update cannot be aggregated (a member's signature says who sent it,
    not that it is a model): other tensor shapes than the model's, or non-finite values."""
    if shapes is None or params.tensor_type != "numpy.ndarray":
        return None
    try:
        arrays = parameters_to_ndarrays(params)
    except Exception:
        return "update is not a list of arrays"
    if [a.shape for a in arrays] != shapes:
        return "update does not have the model's shape"
    if not all(np.isfinite(a).all() for a in arrays):
        return "update holds non-finite values"
    return None


def recompute(record: RoundRecord, updates: dict, previous: Parameters | None = None):
    """The aggregate of a recorded round, computed again from the updates a member received
    (Flower ``Parameters``, or lists of arrays), by the same strategy code in the same order:
    (Parameters, its hash). A stateful strategy (the XGBoost booster) also needs the previous
    round's aggregate."""
    if record.strategy not in STRATEGIES:
        raise ValueError(f"round {record.round}: unknown strategy {record.strategy!r}")
    strategy = STRATEGIES[record.strategy][0](**record.strategy_args,
                                              fit_metrics_aggregation_fn=lambda m: {})
    if record.strategy in STATEFUL and previous is not None:
        strategy.global_model = previous.tensors[0]
    results = []
    for u in record.updates:
        params = updates[u.institution]
        if not isinstance(params, Parameters):
            params = ndarrays_to_parameters(params)
        if params_sha256(params) != u.sha256:
            raise ValueError(f"round {record.round}: {u.institution}'s update is not the one "
                             "recorded")
        results.append((None, FitRes(Status(Code.OK, ""), params, u.num_examples,
                                     {"institution": u.institution})))
    params, _ = strategy.aggregate_fit(record.round, results, [])
    return params, params_sha256(params)
