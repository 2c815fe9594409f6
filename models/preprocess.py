"""Preprocessing transformer used inside every exported pipeline.

``TabularPrep`` takes the schema-ordered float32 vector produced by
:func:`models.schema.validate_row` and emits model features:

1. numeric columns: NaN -> training median; optional clipping to training quantiles
   (``clip``); signed log ``sign(x) * log1p(|x|)`` on columns the schema marks ``scale: log``;
2. a 0/1 missing-indicator column for each schema feature whose policy is ``impute``
   (written by hand because ``SimpleImputer(add_indicator=True)`` does not convert to ONNX);
3. category codes, either one-hot (``one_hot=True``, for linear/kernel/neural models) or kept as
   ordinal codes (tree models; categories are never passed as native HGB categoricals because
   skl2onnx mis-converts them, sklearn-onnx#1051).

All arithmetic is float32, mirroring the ONNX converter in :mod:`models.onnx_export` exactly.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .schema import SchemaInfo


class TabularPrep(TransformerMixin, BaseEstimator):
    def __init__(self, numeric_idx=(), category_idx=(), n_categories=(), impute_idx=(),
                 log_idx=(), one_hot=True, clip=True, log=True,
                 clip_quantiles=(0.001, 0.999)):
        self.numeric_idx = numeric_idx
        self.category_idx = category_idx
        self.n_categories = n_categories
        self.impute_idx = impute_idx
        self.log_idx = log_idx
        self.one_hot = one_hot
        self.clip = clip
        self.log = log
        self.clip_quantiles = clip_quantiles

    @classmethod
    def from_schema(cls, schema, **kw) -> "TabularPrep":
        info = SchemaInfo.from_schema(schema)
        return cls(numeric_idx=info.numeric_idx, category_idx=info.category_idx,
                   n_categories=info.n_categories, impute_idx=info.impute_idx,
                   log_idx=info.log_idx, **kw)

    def fit(self, X, y=None):
        return self.fit_from_statistics(self.statistics(X))

    def statistics(self, X) -> dict:
        """What fitting needs from the rows, per numeric column: the observed count, median and
        clipping quantiles. A federation merges these across institutions instead of pooling
        rows (models.federated.stats)."""
        X = np.asarray(X, dtype=np.float32)
        num = X[:, list(self.numeric_idx)].astype(np.float64)
        k = num.shape[1]
        observed = (~np.isnan(num)).sum(axis=0) if k else np.zeros(0, int)
        med = np.nanmedian(num, axis=0) if k else np.zeros(0)
        if self.clip and k:
            lo, hi = np.nanquantile(num, self.clip_quantiles, axis=0)
        else:
            lo, hi = np.full(k, -np.inf), np.full(k, np.inf)
        return {"n_features_in": int(X.shape[1]), "observed": observed.astype(int),
                "median": med, "lo": lo, "hi": hi}

    def fit_from_statistics(self, st: dict):
        """Fitted state from :meth:`statistics` (one data set's, or several merged)."""
        med = np.asarray(st["median"], dtype=np.float64)
        self.medians_ = np.where(np.isnan(med), 0.0, med).astype(np.float32)
        if self.clip and len(self.numeric_idx):
            self.lo_ = np.where(np.isnan(st["lo"]), -np.inf, st["lo"]).astype(np.float32)
            self.hi_ = np.where(np.isnan(st["hi"]), np.inf, st["hi"]).astype(np.float32)
        else:
            self.lo_ = np.full(len(self.numeric_idx), -np.inf, np.float32)
            self.hi_ = np.full(len(self.numeric_idx), np.inf, np.float32)
        self.log_mask_ = np.array([self.log and i in set(self.log_idx) for i in self.numeric_idx],
                                 bool)
        self.n_features_in_ = st["n_features_in"]
        self.n_features_out_ = (len(self.numeric_idx) + len(self.impute_idx)
                                + (sum(self.n_categories) if self.one_hot
                                   else len(self.category_idx)))
        return self

    def transform(self, X):
        check_is_fitted(self, "medians_")
        X = np.asarray(X, dtype=np.float32)
        parts = []
        if len(self.numeric_idx):
            num = X[:, list(self.numeric_idx)]
            num = np.where(np.isnan(num), self.medians_, num)
            num = np.minimum(np.maximum(num, self.lo_), self.hi_)
            if self.log_mask_.any():
                slog = (np.sign(num) * np.log(np.abs(num) + np.float32(1))).astype(np.float32)
                num = np.where(self.log_mask_, slog, num).astype(np.float32)
            parts.append(num.astype(np.float32))
        if len(self.impute_idx):
            parts.append(np.isnan(X[:, list(self.impute_idx)]).astype(np.float32))
        for j, k in zip(self.category_idx, self.n_categories):
            col = X[:, [j]]
            if self.one_hot:
                parts.append((col == np.arange(k, dtype=np.float32)).astype(np.float32))
            else:
                parts.append(np.where(np.isnan(col), np.float32(-1), col).astype(np.float32))
        return np.hstack(parts).astype(np.float32)

    def get_feature_names_out(self, input_features=None):
        names = input_features if input_features is not None else [
            f"x{i}" for i in range(self.n_features_in_)]
        out = [names[i] for i in self.numeric_idx]
        out += [f"{names[i]}__missing" for i in self.impute_idx]
        for j, k in zip(self.category_idx, self.n_categories):
            out += [f"{names[j]}=={c}" for c in range(k)] if self.one_hot else [names[j]]
        return np.array(out, dtype=object)
