"""The model families, their default and search-space hyper-parameters, and pipeline builder.

Every family is an imbalanced-learn ``Pipeline``:
``[subsample] -> TabularPrep -> [scaler] -> [resampler] -> classifier``, except the scorecard
(:mod:`models.scorecard`): ``[subsample] -> WoEBinning -> LogisticRegression`` on the raw schema
vector, whose missing values get their own bin. Samplers act only in
``fit``; :func:`models.export_utils.strip_samplers` gives the scikit-learn pipeline that is exported.

Slow families are trained on a stratified subsample of each training fold (``MAX_TRAIN_ROWS``) so
the full comparison fits a 2-core budget; reports say so.
"""
from __future__ import annotations

import warnings

import numpy as np
from imblearn.over_sampling import SMOTE
from imblearn.pipeline import Pipeline as ImbPipeline
from sklearn.base import BaseEstimator
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from . import derived
from .preprocess import TabularPrep
from .resampling import NeighbourhoodInterpolation, Standardized
from .schema import SchemaInfo

FAMILIES = ("logreg", "rf", "svm", "hgb", "lgbm", "xgb", "catboost", "mlp", "dbn", "atriplet", "cnas",
            "scorecard")
RESAMPLERS = ("none", "smote", "nia")
TREE_FAMILIES = {"rf", "hgb", "lgbm", "xgb", "catboost"}
# Families trained under the schema's declared monotone directions (the tree ensembles through
# scikit-learn's `monotonic_cst` or the boosters' `monotone_constraints`, the scorecard through
# monotone bins and signed coefficients).
# The others cannot be constrained and pass the ICE gate (models.gates) only by chance.
MONOTONE_FAMILIES = {"rf", "hgb", "lgbm", "xgb", "catboost", "scorecard"}
# LightGBM 4.6 names the columns of a plain array `Column_<i>` at fit, and scikit-learn then
# warns at every predict that the array "does not have valid feature names"; nothing is wrong.
warnings.filterwarnings("ignore", message="X does not have valid feature names, but LGBMClassifier",
                        category=UserWarning)
# Per-family cap on training rows (stratified subsample of each training fold).
MAX_TRAIN_ROWS = {"svm": 6000, "mlp": 20000, "dbn": 20000, "atriplet": 20000, "cnas": 20000}
# Families that take no resampler: the scorecard bins raw values with missing values (which
# SMOTE/NIA cannot interpolate), and synthetic rows would distort the WoE event rates it is
# read by.
NO_RESAMPLING = {"scorecard"}
# A family's training changed in a way its parameters do not show: comparison rows of an older
# revision are computed again (models.cv.compare). dbn 2: pre-trained and then fine-tuned end to
# end (models/dbn.py), no longer frozen RBM features under a small MLP.
REVISION = {"dbn": 2}
# Minority/majority ratio after resampling, the same for SMOTE and NIA.
RESAMPLE_RATIO = 0.5


class Subsample(BaseEstimator):
    """Stratified random subsample of at most ``n`` rows (fit-time only, like a sampler)."""

    def __init__(self, n=None, random_state=0):
        self.n = n
        self.random_state = random_state

    def fit_resample(self, X, y):
        y = np.asarray(y)
        if self.n is None or len(y) <= self.n:
            return X, y
        rng = np.random.default_rng(self.random_state)
        keep = []
        for c in np.unique(y):
            idx = np.flatnonzero(y == c)
            k = max(1, int(round(self.n * len(idx) / len(y))))
            keep.append(rng.choice(idx, size=k, replace=False))
        keep = np.sort(np.concatenate(keep))
        return np.asarray(X)[keep], y[keep]


DEFAULTS = {
    "logreg": {"C": 1.0},
    "rf": {"n_estimators": 100, "max_depth": 10, "min_samples_leaf": 20, "max_features": 0.5,
           "max_samples": 0.3},
    "svm": {"C": 1.0, "gamma": "scale"},
    "hgb": {"learning_rate": 0.1, "max_iter": 100, "max_leaf_nodes": 31, "min_samples_leaf": 20,
            "l2_regularization": 0.0},
    # LightGBM (issue 13's boosting beside HGB): leaf-wise trees, row and column subsampling.
    # Smoother than LightGBM's own defaults: with 31 leaves of 50 rows (GMSC, 20,000 rows) the
    # top reason of 10.6% of applicants flipped when DebtRatio moved 2%, failing the
    # reason-stability gate (models.gates); 15 leaves of 200 rows pass it.
    "lgbm": {"learning_rate": 0.03, "n_estimators": 300, "num_leaves": 15,
             "min_child_samples": 200, "reg_lambda": 1.0, "subsample": 0.8,
             "colsample_bytree": 0.8},
    # XGBoost (issue 13), histogram trees, leaves of at least ~150 rows of a 7% default rate
    # (hessian p(1-p) ~ 0.065 a row). No row or column subsampling: with 0.8 / 0.8 the top reason
    # of 5.2% of GMSC applicants flipped when utilisation moved 2% (the gate allows 5%; deeper
    # or larger leaves did not help: 5.4%, 6.2%); without it, 20,000 rows pass.
    "xgb": {"learning_rate": 0.03, "n_estimators": 300, "max_depth": 4, "min_child_weight": 10.0,
            "reg_lambda": 1.0, "subsample": 1.0, "colsample_bytree": 1.0},
    # CatBoost (issue 13): symmetric (oblivious) trees, ordered boosting. Depth 4 and a strong
    # leaf penalty: the best of the hand-tried settings on GMSC's folds (depth 3-5, rate
    # 0.02-0.05, 2,000-3,000 trees; 3,000 at 0.02: CV AUC 0.8674), with 1,000 trees at 0.05
    # (0.8673) in a fifth of the time.
    "catboost": {"learning_rate": 0.05, "iterations": 1000, "depth": 4, "l2_leaf_reg": 10.0,
                 "random_strength": 1.0},
    "mlp": {"hidden": 64, "layers": 2, "alpha": 1e-4, "learning_rate_init": 1e-3},
    # The seed 001 DBN (models/dbn.py): two RBM layers pre-trained, then the whole network
    # fine-tuned; pretrain=False is the same network from random initialisation (the ablation).
    "dbn": {"n1": 64, "n2": 32, "rbm_lr": 0.001, "rbm_iter": 20, "alpha": 1e-4,
            "learning_rate_init": 1e-3, "pretrain": True},
    # A-Triplet (seed 004, models/triplet.py): an embedding learned from adaptively sampled
    # triplets, feeding a head: logreg, hgb or mlp (each at its family's defaults).
    "atriplet": {"head": "logreg", "hidden": 64, "dim": 16, "negatives": 5, "anchors": 128,
                 "steps": 1500, "learning_rate": 1e-3, "margin": 0.0, "adaptive": True},
    # A cell-based network of the C-NAS search space (seed 004, models/cnas.py); `python -m
    # models cnas DATASET` searches it. The default is a small one: one stage of one cell of two
    # nodes (dense, then attention over features), tokens of width 16.
    "cnas": {"stages": 1, "cells": 1, "nodes": 2, "ops": ["dense", "attention", "dense", "dense"],
             "dim": 16, "reduce": "mean", "learning_rate": 1e-3},
    # At most 8 bins of at least 5% of the rows each: the usual scorecard granularity.
    "scorecard": {"C": 1.0, "max_n_bins": 8, "min_bin_size": 0.05},
}


def supports(family: str, resampler: str) -> bool:
    """Whether the family can be combined with the resampler (compare skips other pairs)."""
    return resampler == "none" or family not in NO_RESAMPLING


def suggest_params(trial, family: str) -> dict:
    """Optuna search space per family."""
    if family == "logreg":
        return {"C": trial.suggest_float("C", 1e-3, 1e2, log=True)}
    if family == "rf":
        return {"n_estimators": trial.suggest_int("n_estimators", 100, 300, step=50),
                "max_depth": trial.suggest_int("max_depth", 6, 16),
                "min_samples_leaf": trial.suggest_int("min_samples_leaf", 5, 100, log=True),
                "max_features": trial.suggest_float("max_features", 0.2, 0.8),
                "max_samples": 0.3}
    if family == "svm":
        return {"C": trial.suggest_float("C", 1e-2, 1e2, log=True),
                "gamma": trial.suggest_float("gamma", 1e-3, 1.0, log=True)}
    if family == "hgb":
        return {"learning_rate": trial.suggest_float("learning_rate", 0.02, 0.2, log=True),
                "max_iter": trial.suggest_int("max_iter", 100, 400, step=50),
                "max_leaf_nodes": trial.suggest_int("max_leaf_nodes", 8, 48),
                "min_samples_leaf": trial.suggest_int("min_samples_leaf", 20, 400, log=True),
                "l2_regularization": trial.suggest_float("l2_regularization", 1e-3, 10.0,
                                                         log=True)}
    if family == "lgbm":
        return {"learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
                "n_estimators": trial.suggest_int("n_estimators", 100, 600, step=50),
                "num_leaves": trial.suggest_int("num_leaves", 8, 64),
                "min_child_samples": trial.suggest_int("min_child_samples", 20, 400, log=True),
                "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True),
                "subsample": trial.suggest_float("subsample", 0.5, 1.0),
                "colsample_bytree": trial.suggest_float("colsample_bytree", 0.5, 1.0)}
    if family == "xgb":
        return {"learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
                "n_estimators": trial.suggest_int("n_estimators", 100, 600, step=50),
                "max_depth": trial.suggest_int("max_depth", 2, 8),
                "min_child_weight": trial.suggest_float("min_child_weight", 1.0, 50.0, log=True),
                "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True),
                "subsample": trial.suggest_float("subsample", 0.5, 1.0),
                "colsample_bytree": trial.suggest_float("colsample_bytree", 0.5, 1.0)}
    if family == "catboost":
        return {"learning_rate": trial.suggest_float("learning_rate", 0.02, 0.15, log=True),
                "iterations": trial.suggest_int("iterations", 300, 1500, step=100),
                "depth": trial.suggest_int("depth", 3, 6),
                "l2_leaf_reg": trial.suggest_float("l2_leaf_reg", 1.0, 30.0, log=True),
                "random_strength": trial.suggest_float("random_strength", 0.1, 5.0, log=True)}
    if family == "mlp":
        return {"hidden": trial.suggest_categorical("hidden", [32, 64, 128]),
                "layers": trial.suggest_int("layers", 1, 2),
                "alpha": trial.suggest_float("alpha", 1e-5, 1e-1, log=True),
                "learning_rate_init": trial.suggest_float("learning_rate_init", 3e-4, 3e-3,
                                                          log=True)}
    if family == "dbn":
        return {"n1": trial.suggest_categorical("n1", [32, 64, 128]),
                "n2": trial.suggest_categorical("n2", [16, 32, 64]),
                "rbm_lr": trial.suggest_float("rbm_lr", 1e-4, 1e-2, log=True),
                "rbm_iter": 20,
                "alpha": trial.suggest_float("alpha", 1e-5, 1e-1, log=True),
                "learning_rate_init": trial.suggest_float("learning_rate_init", 3e-4, 3e-3,
                                                          log=True),
                "pretrain": True}
    if family == "atriplet":
        return {"head": trial.suggest_categorical("head", ["logreg", "hgb", "mlp"]),
                "hidden": trial.suggest_categorical("hidden", [32, 64, 128]),
                "dim": trial.suggest_categorical("dim", [8, 16, 32]),
                "negatives": trial.suggest_int("negatives", 1, 10),
                "anchors": 128,
                "steps": trial.suggest_int("steps", 500, 3000, step=500),
                "learning_rate": trial.suggest_float("learning_rate", 3e-4, 3e-3, log=True),
                "margin": trial.suggest_float("margin", 0.0, 2.0),
                "adaptive": True}
    if family == "cnas":
        raise ValueError("the cnas family is searched by C-NAS itself: python -m models cnas "
                         "DATASET")
    if family == "scorecard":
        return {"C": trial.suggest_float("C", 1e-2, 1e2, log=True),
                "max_n_bins": trial.suggest_int("max_n_bins", 4, 10),
                "min_bin_size": trial.suggest_float("min_bin_size", 0.02, 0.1)}
    raise ValueError(family)


def make_classifier(family: str, params: dict, seed: int):
    p = {**DEFAULTS[family], **params}
    if family == "logreg":
        return LogisticRegression(C=p["C"], max_iter=2000)
    if family == "scorecard":
        from .scorecard import SignedLogistic
        return SignedLogistic(C=p["C"], max_iter=2000)
    if family == "rf":
        return RandomForestClassifier(n_estimators=p["n_estimators"], max_depth=p["max_depth"],
                                      min_samples_leaf=p["min_samples_leaf"],
                                      max_features=p["max_features"],
                                      max_samples=p["max_samples"], n_jobs=1, random_state=seed)
    if family == "svm":
        return CalibratedClassifierCV(SVC(C=p["C"], gamma=p["gamma"], cache_size=500),
                                      method="sigmoid", cv=3, ensemble=False)
    if family == "hgb":
        return HistGradientBoostingClassifier(
            learning_rate=p["learning_rate"], max_iter=p["max_iter"],
            max_leaf_nodes=p["max_leaf_nodes"], min_samples_leaf=p["min_samples_leaf"],
            l2_regularization=p["l2_regularization"], early_stopping=False, random_state=seed)
    if family == "lgbm":
        from lightgbm import LGBMClassifier
        # One thread and `deterministic`: the same folds give the same model on any machine.
        return LGBMClassifier(
            learning_rate=p["learning_rate"], n_estimators=p["n_estimators"],
            num_leaves=p["num_leaves"], min_child_samples=p["min_child_samples"],
            reg_lambda=p["reg_lambda"], subsample=p["subsample"], subsample_freq=1,
            colsample_bytree=p["colsample_bytree"], n_jobs=1, deterministic=True,
            force_row_wise=True, random_state=seed, verbose=-1)
    if family == "xgb":
        from xgboost import XGBClassifier
        # One thread, histogram trees: the same folds give the same model on any machine.
        return XGBClassifier(
            learning_rate=p["learning_rate"], n_estimators=p["n_estimators"],
            max_depth=p["max_depth"], min_child_weight=p["min_child_weight"],
            reg_lambda=p["reg_lambda"], subsample=p["subsample"],
            colsample_bytree=p["colsample_bytree"], tree_method="hist", n_jobs=1,
            random_state=seed, verbosity=0)
    if family == "catboost":
        from catboost import CatBoostClassifier
        # One thread; nothing written to the working directory (CatBoost's catboost_info/).
        return CatBoostClassifier(
            learning_rate=p["learning_rate"], iterations=p["iterations"], depth=p["depth"],
            l2_leaf_reg=p["l2_leaf_reg"], random_strength=p["random_strength"],
            thread_count=1, random_seed=seed, allow_writing_files=False, verbose=0)
    if family == "mlp":
        return MLPClassifier(hidden_layer_sizes=(p["hidden"],) * p["layers"], alpha=p["alpha"],
                             learning_rate_init=p["learning_rate_init"], early_stopping=True,
                             max_iter=200, random_state=seed)
    if family == "dbn":
        # No early stopping: scikit-learn stops on validation *accuracy*, which on 7% defaults
        # halts at the majority-class solution (measured: AUC < 0.5 on GMSC with it).
        from .dbn import PretrainedMLP
        return PretrainedMLP(hidden_layer_sizes=(p["n1"], p["n2"]), alpha=p["alpha"],
                             learning_rate_init=p["learning_rate_init"], max_iter=100,
                             rbm_learning_rate=p["rbm_lr"], rbm_iter=p["rbm_iter"],
                             pretrain=p["pretrain"], random_state=seed)
    if family == "atriplet":
        # the head at its own family's defaults (build_pipeline puts the embedding before it)
        if p["head"] not in ("logreg", "hgb", "mlp"):
            raise ValueError(f"atriplet head must be logreg, hgb or mlp, not {p['head']!r}")
        return make_classifier(p["head"], {}, seed)
    if family == "cnas":
        from .cnas import CellNetClassifier
        return CellNetClassifier(stages=p["stages"], cells=p["cells"], nodes=p["nodes"],
                                 ops=tuple(p["ops"]), dim=p["dim"], reduce=p["reduce"],
                                 learning_rate=p["learning_rate"], random_state=seed)
    raise ValueError(family)


def make_resampler(name: str, seed: int):
    if name == "none":
        return None
    if name == "smote":
        return Standardized(SMOTE(sampling_strategy=RESAMPLE_RATIO, k_neighbors=5,
                                  random_state=seed))
    if name == "nia":
        return NeighbourhoodInterpolation(k_neighbors=5, sampling_strategy=RESAMPLE_RATIO,
                                          noise=0.01, random_state=seed)
    raise ValueError(name)


def build_pipeline(family: str, schema: dict, params: dict | None = None,
                   resampler: str = "none", seed: int = 0, max_train_rows: int | None = -1,
                   monotone: bool = True, domain: bool = True):
    """imbalanced-learn pipeline for a family. ``max_train_rows=-1`` uses the family default.
    ``monotone=False`` ignores the schema's directions, ``domain=False`` its derived features
    (both: the untuned-HGB baseline of the goals, :func:`untuned_hgb_pipeline`)."""
    params = params or {}
    p = {**DEFAULTS[family], **params}
    if max_train_rows == -1:
        max_train_rows = MAX_TRAIN_ROWS.get(family)
    if not supports(family, resampler):
        raise ValueError(f"family {family} takes no resampler (got {resampler})")
    tree = family in TREE_FAMILIES
    steps = []
    if max_train_rows:
        steps.append(("subsample", Subsample(max_train_rows, random_state=seed)))
    if family == "scorecard":
        from .scorecard import WoEBinning
        steps += [("woe", WoEBinning.from_schema(schema, max_n_bins=p["max_n_bins"],
                                                 min_bin_size=p["min_bin_size"])),
                  ("clf", make_classifier(family, params, seed))]
        return ImbPipeline(steps)
    if domain and derived.used_by(family, schema):
        # domain features computed in the graph from the raw vector (models.derived)
        steps.append(("derived", derived.DerivedFeatures.from_schema(schema)))
        schema = derived.extended_schema(schema)
    steps.append(("prep", TabularPrep.from_schema(schema, one_hot=not tree, clip=not tree,
                                                  log=not tree)))
    if not tree:
        # standardised inputs: the linear and neural families, and the DBN's Gaussian visible
        # units (unit variance)
        steps.append(("scale", StandardScaler()))
    sampler = make_resampler(resampler, seed)
    if sampler is not None:
        steps.append(("resample", sampler))
    if family == "atriplet":
        from .triplet import ATripletEmbedding
        steps.append(("embed", ATripletEmbedding(
            hidden=p["hidden"], dim=p["dim"], negatives=p["negatives"], anchors=p["anchors"],
            steps=p["steps"], learning_rate=p["learning_rate"], margin=p["margin"],
            adaptive=p["adaptive"], random_state=seed)))
    clf = make_classifier(family, params, seed)
    if tree and monotone:
        cst = monotonic_cst(schema)
        # CatBoost copies a list in its constructor, which scikit-learn's clone refuses, and fits
        # on no tuple: its string form, "(1,0,-1)".
        clf.set_params(**({"monotone_constraints": cst} if family == "lgbm" else
                          {"monotone_constraints": tuple(cst)} if family == "xgb" else
                          {"monotone_constraints": "(" + ",".join(map(str, cst)) + ")"}
                          if family == "catboost" else
                          {"monotonic_cst": cst}))
    steps.append(("clf", clf))
    return ImbPipeline(steps)


def untuned_hgb_pipeline(schema: dict, seed: int = 0):
    """The baseline of every paired goal: HistGradientBoosting at scikit-learn's defaults on the
    raw features (no resampling, calibration, monotone constraints or domain features)."""
    return build_pipeline("hgb", schema, {}, "none", seed=seed, monotone=False, domain=False)


def monotonic_cst(schema: dict) -> list[int]:
    """scikit-learn's `monotonic_cst` for a tree model behind `TabularPrep` (trees: numeric
    values as given, median-imputed, then the missing indicators, then category codes): +1 / -1
    for a numeric feature declared increasing / decreasing, 0 for everything else."""
    info = SchemaInfo.from_schema(schema)
    feats = schema["features"]
    sign = {"increasing": 1, "decreasing": -1}
    return ([sign.get(feats[i].get("monotone"), 0) for i in info.numeric_idx]
            + [0] * (len(info.impute_idx) + len(info.category_idx)))
