"""LIME-style local surrogates with independent vs correlated perturbation sampling (seed 004 §3.5,
§5.4), domain constraints, and the constraint-violation study (``python -m models explain --study``).

Samplers perturb a borrower's schema-space vector ``x`` (numeric features; category codes are held
fixed):

* ``independent`` (original LIME): ``x + e``, ``e_j ~ N(0, s_j^2)`` with ``s_j`` the training
  standard deviation of feature ``j``;
* ``correlated`` (VeriCred): ``x + e``, ``e ~ N(0, S)`` with ``S`` the training covariance matrix,
  so perturbations follow the features' dependence.

Both are also run centred on the training mean (as the paper describes) instead of on ``x``.
The surrogate is a weighted ridge regression of the model's PD on the standardised perturbations
(exponential kernel, width 0.75 sqrt(d), as in the LIME package).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .data import load_dataset, make_splits


@dataclass(frozen=True)
class Constraint:
    cid: str
    text: str
    check: Callable[[dict], np.ndarray]  # column dict -> bool array (True = satisfied)


def schema_constraints(schema: dict) -> list[Constraint]:
    """Range constraints implied by the schema (min/max of numeric features)."""
    out = []
    for f in schema["features"]:
        if f["type"] == "category":
            continue
        n = f["name"]
        if f.get("min") is not None:
            out.append(Constraint(f"{n}>={f['min']}", f"{n} >= {f['min']}",
                                  lambda c, n=n, v=f["min"]: c[n] >= v))
        if f.get("max") is not None:
            out.append(Constraint(f"{n}<={f['max']}", f"{n} <= {f['max']}",
                                  lambda c, n=n, v=f["max"]: c[n] <= v))
    return out


def domain_constraints(schema: dict) -> list[Constraint]:
    """Schema ranges plus logical relations that hold on every row of the real data."""
    cons = schema_constraints(schema)
    if schema["name"] == "gmsc":
        cons.append(Constraint(
            "realestate<=open", "NumberRealEstateLoansOrLines <= NumberOfOpenCreditLinesAndLoans",
            lambda c: c["NumberRealEstateLoansOrLines"] <= c["NumberOfOpenCreditLinesAndLoans"]))
        cons.append(Constraint(
            "debtratio_if_income", "DebtRatio <= 200 when MonthlyIncome >= 100",
            lambda c: ~(c["MonthlyIncome"] >= 100) | (c["DebtRatio"] <= 200)))
        late = ["NumberOfTime30-59DaysPastDueNotWorse", "NumberOfTime60-89DaysPastDueNotWorse",
                "NumberOfTimes90DaysLate"]
        cons.append(Constraint(
            "late_codes_consistent", "96/98 source codes appear in all three past-due counts "
                                     "or in none",
            lambda c: ((c[late[0]] >= 96) == (c[late[1]] >= 96)) &
                      ((c[late[0]] >= 96) == (c[late[2]] >= 96))))
    if schema["name"] == "taiwan":
        cons.append(Constraint("limit>0", "LIMIT_BAL > 0", lambda c: c["LIMIT_BAL"] > 0))
    return cons


def violations(schema: dict, Z: np.ndarray, cons: list[Constraint]) -> np.ndarray:
    """Boolean matrix [n_samples, n_constraints], True = violated."""
    cols = {f["name"]: Z[:, j] for j, f in enumerate(schema["features"])}
    with np.errstate(invalid="ignore"):
        return np.column_stack([~np.asarray(c.check(cols), bool) for c in cons])


class PerturbationSampler:
    def __init__(self, X_train: np.ndarray, schema: dict, kind: str = "correlated",
                 center: str = "instance", scale: float = 1.0):
        if kind not in ("independent", "correlated") or center not in ("instance", "mean"):
            raise ValueError("kind in {independent, correlated}, center in {instance, mean}")
        self.kind, self.center, self.scale = kind, center, scale
        X = X_train.astype(np.float64)
        self.num = np.array([f["type"] != "category" for f in schema["features"]])
        med = np.nanmedian(X, axis=0)
        X = np.where(np.isnan(X), med, X)
        self.mean = X.mean(axis=0)
        Xn = X[:, self.num]
        self.cov = np.cov(Xn, rowvar=False) * scale ** 2
        self.sd = np.sqrt(np.diag(self.cov))
        self.fill = med

    def sample(self, x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        x = np.where(np.isnan(x), self.fill, x).astype(np.float64)
        base = x if self.center == "instance" else np.where(self.num, self.mean, x)
        Z = np.repeat(base.reshape(1, -1), n, axis=0)
        k = int(self.num.sum())
        if self.kind == "independent":
            eps = rng.normal(size=(n, k)) * self.sd
        else:
            eps = rng.multivariate_normal(np.zeros(k), self.cov, size=n, method="eigh")
        Z[:, self.num] += eps
        return Z


def lime_surrogate(predict, x: np.ndarray, sampler: PerturbationSampler, n: int = 2000,
                   seed: int = 0, ridge: float = 1.0) -> dict:
    """Weighted ridge surrogate around ``x``; returns coefficients (per s.d.) and fidelity."""
    rng = np.random.default_rng(seed)
    Z = sampler.sample(x, n, rng)
    Z[0] = np.where(np.isnan(x), sampler.fill, x)
    y = predict(Z.astype(np.float32)).astype(np.float64)
    num = sampler.num
    S = (Z[:, num] - Z[0, num]) / sampler.sd
    d = np.sqrt((S ** 2).sum(axis=1))
    width = 0.75 * np.sqrt(S.shape[1])
    w = np.exp(-(d ** 2) / width ** 2)
    A = np.column_stack([np.ones(n), S])
    W = A * w[:, None]
    reg = ridge * np.eye(A.shape[1])
    reg[0, 0] = 0
    beta = np.linalg.solve(A.T @ W + reg, W.T @ y)
    pred = A @ beta
    ybar = np.average(y, weights=w)
    r2 = 1 - np.sum(w * (y - pred) ** 2) / np.sum(w * (y - ybar) ** 2)
    return {"intercept": float(beta[0]), "coef": beta[1:], "weighted_r2": float(r2)}


def lime_sampling_study(dataset: str = "gmsc", n_samples: int = 5000, n_instances: int = 100,
                        seed: int = 0, out_dir: Path | None = None) -> dict:
    """Constraint-violation rates of independent vs correlated sampling (both centres)."""
    from .train import REPORTS
    out_dir = out_dir or REPORTS
    ds = load_dataset(dataset)
    sp = make_splits(ds.y, ds.X)
    Xtr = ds.X[sp.train_idx]
    cons = domain_constraints(ds.schema)
    # Missing values are allowed by the schema (imputed); they cannot violate anything, so the
    # real-data check fills them with 0 (which satisfies every constraint here).
    Xfill = np.where(np.isnan(ds.X), 0.0, ds.X).astype(np.float64)
    base_viol = violations(ds.schema, Xfill, cons)
    rng = np.random.default_rng(seed)
    inst = ds.X[sp.holdout_idx[rng.choice(len(sp.holdout_idx), n_instances, replace=False)]]
    per = max(1, n_samples // n_instances)
    res = {"dataset": dataset, "n_instances": n_instances, "samples_per_instance": per,
           "total_samples_per_sampler": per * n_instances,
           "constraints": [{"id": c.cid, "text": c.text} for c in cons],
           "real_data_violation_rate": float(base_viol.any(axis=1).mean()),
           "samplers": {}}
    for center in ("instance", "mean"):
        for kind in ("independent", "correlated"):
            s = PerturbationSampler(Xtr, ds.schema, kind, center)
            r = np.random.default_rng(seed + 1)
            t0 = time.time()
            V = np.vstack([violations(ds.schema, s.sample(x, per, r), cons) for x in inst])
            res["samplers"][f"{kind}/{center}"] = {
                "any_violation_rate": float(V.any(axis=1).mean()),
                "violations_per_sample": float(V.sum(axis=1).mean()),
                "per_constraint_rate": {c.cid: float(V[:, j].mean()) for j, c in enumerate(cons)},
                "seconds": time.time() - t0}
    for center in ("instance", "mean"):
        a = res["samplers"][f"independent/{center}"]
        b = res["samplers"][f"correlated/{center}"]
        res[f"reduction_{center}"] = {
            "any_violation": _red(a["any_violation_rate"], b["any_violation_rate"]),
            "violations_per_sample": _red(a["violations_per_sample"],
                                          b["violations_per_sample"]),
            "per_constraint": {k: _red(a["per_constraint_rate"][k], b["per_constraint_rate"][k])
                               for k in a["per_constraint_rate"]}}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"lime_sampling_{dataset}.json").write_text(json.dumps(res, indent=1) + "\n")
    return res


def _red(a: float, b: float):
    return None if a == 0 else float((a - b) / a)


def study_markdown(results: list[dict], fidelity: dict | None = None) -> str:
    lines = ["# LIME perturbation sampling: constraint violations", "",
             "Seed 004 (VeriCred §3.5, §5.4) claims that sampling LIME perturbations from the "
             "joint (multivariate normal, training covariance) distribution instead of "
             "independent univariate normals cuts domain-constraint violations by ~60% (57-78% "
             "per constraint). We measure it with `python -m models explain --study`: "
             "perturbations of 100 random holdout borrowers, 50 per borrower (5,000 per sampler), "
             "each feature's noise scaled by its training standard deviation; category codes held "
             "fixed. Constraints = the schema's ranges (counts >= 0, utilisation >= 0, age >= 18, "
             "upper bounds) plus logical relations that hold on every real row.", ""]
    for r in results:
        lines += [f"## {r['dataset']}", "",
                  f"Constraints: {len(r['constraints'])}; real rows violating any: "
                  f"{r['real_data_violation_rate']:.4f}", "",
                  "| sampler / centre | any violation | violations per sample |", "|---|---|---|"]
        for k, v in r["samplers"].items():
            lines.append(f"| {k} | {v['any_violation_rate']:.4f} | "
                         f"{v['violations_per_sample']:.3f} |")
        for c in ("instance", "mean"):
            red = r[f"reduction_{c}"]
            lines.append("")
            lines.append(f"Reduction correlated vs independent (centre {c}): any-violation "
                         f"{_pct(red['any_violation'])}, violations per sample "
                         f"{_pct(red['violations_per_sample'])}.")
        lines += ["", "| constraint | independent (instance) | correlated (instance) | "
                  "reduction |", "|---|---|---|---|"]
        a = r["samplers"]["independent/instance"]["per_constraint_rate"]
        b = r["samplers"]["correlated/instance"]["per_constraint_rate"]
        never = [k for k in a if a[k] == 0 and b[k] == 0]
        for k in a:
            if k in never:
                continue
            lines.append(f"| `{k}` | {a[k]:.4f} | {b[k]:.4f} | "
                         f"{_pct(r['reduction_instance']['per_constraint'][k])} |")
        lines += ["", f"Never violated by either sampler (omitted above): {len(never)} constraints "
                  "(mostly generous upper bounds)." , ""]
    if fidelity:
        lines += ["## Surrogate fidelity (default GMSC model)", "",
                  f"Weighted R² of the local ridge surrogate, mean over {fidelity['n']} holdout "
                  f"borrowers: independent {fidelity['independent']:.3f}, correlated "
                  f"{fidelity['correlated']:.3f}.", ""]
    return "\n".join(lines) + "\n"


def _pct(v):
    return "n/a" if v is None else f"{100 * v:+.1f}%"


def surrogate_fidelity(bundle_path=None, n_instances: int = 50, n: int = 2000,
                       seed: int = 0) -> dict:
    """Mean weighted R^2 of the local surrogate for the default model, per sampler."""
    from .serving import DEFAULT_BUNDLE, load_bundle, predict_pd
    b = load_bundle(bundle_path or DEFAULT_BUNDLE)
    ds = load_dataset(b.schema["name"])
    sp = make_splits(ds.y, ds.X)
    rng = np.random.default_rng(seed)
    xs = ds.X[sp.holdout_idx[rng.choice(len(sp.holdout_idx), n_instances, replace=False)]]
    out = {"n": n_instances, "model_id": b.model_id}
    for kind in ("independent", "correlated"):
        s = PerturbationSampler(ds.X[sp.train_idx], ds.schema, kind, "instance")
        r2 = [lime_surrogate(lambda Z: predict_pd(b, Z), x, s, n=n, seed=seed)["weighted_r2"]
              for x in xs]
        out[kind] = float(np.mean(r2))
    return out


def run_study(datasets=("gmsc", "taiwan"), n_samples: int = 5000) -> list[dict]:
    from .train import REPORTS
    res = [lime_sampling_study(d, n_samples=n_samples) for d in datasets]
    fid = surrogate_fidelity()
    (REPORTS / "lime_sampling.json").write_text(json.dumps(
        {"studies": res, "surrogate_fidelity": fid}, indent=1) + "\n")
    (REPORTS / "lime_sampling.md").write_text(study_markdown(res, fid))
    return res
