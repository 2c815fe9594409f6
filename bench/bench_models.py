"""Inference benchmark: ONNX Runtime (the serving path) vs scikit-learn, same model, one run.

Refits the default GMSC model from models/default/train_config.json on the training split (the
committed ONNX file is the export of exactly this fit; the script checks the SHA-256 matches),
then measures on real holdout rows:

* single-row latency (median and p99 over N calls) of ``predict_pd`` (serving session,
  1 thread) vs ``model.predict_proba`` on one row;
* batch throughput (rows/s) on 10,000 rows;
* ``reason_codes`` latency (one batched ONNX call of d+1 rows).

Writes reports/models/bench_inference.json. Usage: python bench/bench_models.py [--calls 2000]
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.data import load_dataset, make_splits  # noqa: E402
from models.serving import DEFAULT_BUNDLE, load_bundle, predict_pd, reason_codes  # noqa: E402
from models.train import REPORTS, export_bundle, fit_final, library_versions  # noqa: E402


def _lat(fn, rows, calls):
    fn(rows[0:1])
    t = np.empty(calls)
    for i in range(calls):
        r = rows[i % len(rows): i % len(rows) + 1]
        t0 = time.perf_counter()
        fn(r)
        t[i] = time.perf_counter() - t0
    return {"median_ms": float(np.median(t) * 1e3), "p99_ms": float(np.quantile(t, 0.99) * 1e3)}


def _thr(fn, X, reps=3):
    fn(X[:100])
    best = np.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        fn(X)
        best = min(best, time.perf_counter() - t0)
    return float(len(X) / best)


def main(argv=None):
    warnings.filterwarnings("ignore")
    ap = argparse.ArgumentParser()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from models import add_version_argument
    add_version_argument(ap, "bench_models")
    ap.add_argument("--calls", type=int, default=2000)
    a = ap.parse_args(argv)
    bundle = load_bundle(DEFAULT_BUNDLE)
    cfg = json.loads((DEFAULT_BUNDLE / "train_config.json").read_text())
    ds = load_dataset(cfg["dataset"])
    sp = make_splits(ds.y, ds.X)
    t0 = time.time()
    model = fit_final(ds, sp, cfg)
    fit_s = time.time() - t0
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        reexport = export_bundle(model, ds, sp, cfg, Path(tmp))
        reproducible = reexport["model_sha256"] == bundle.model_id
        if not reproducible:
            import shutil
            shutil.copy(Path(tmp) / reexport["onnx_file"], "/tmp/bench_reexport.onnx")
    Xh = ds.X[sp.holdout_idx]
    batch = Xh[:10_000]
    skl = lambda X: model.predict_proba(X)[:, 1]  # noqa: E731
    onx = lambda X: predict_pd(bundle, X)  # noqa: E731
    diff = float(np.max(np.abs(skl(batch) - onx(batch))))
    res = {"model_id": bundle.model_id, "family": cfg["family"], "fit_seconds": fit_s,
           "refit_reexport_sha256_matches_committed": reproducible,
           "parity_max_abs_diff_10k": diff, "machine": platform.machine(),
           "libraries": library_versions(),
           "single_row": {"onnxruntime": _lat(onx, Xh, a.calls),
                          "sklearn": _lat(skl, Xh, max(200, a.calls // 10))},
           "batch_10k_rows_per_s": {"onnxruntime": _thr(onx, batch), "sklearn": _thr(skl, batch)},
           "reason_codes": _lat(lambda r: reason_codes(bundle, r[0]), Xh, a.calls // 2)}
    res["ratios"] = {
        "single_row_latency_sklearn_over_onnx":
            res["single_row"]["sklearn"]["median_ms"] / res["single_row"]["onnxruntime"][
                "median_ms"],
        "batch_throughput_onnx_over_sklearn":
            res["batch_10k_rows_per_s"]["onnxruntime"] / res["batch_10k_rows_per_s"]["sklearn"]}
    out = REPORTS / "bench_inference.json"
    out.write_text(json.dumps(res, indent=1) + "\n")
    print(f"model {bundle.model_id[:16]}  parity {diff:.1e}  refit reproduces the committed "
          f"file byte for byte: {reproducible}")
    print(f"single row: onnxruntime {res['single_row']['onnxruntime']['median_ms']:.3f} ms, "
          f"sklearn {res['single_row']['sklearn']['median_ms']:.3f} ms  -> "
          f"{res['ratios']['single_row_latency_sklearn_over_onnx']:.1f}x faster")
    print(f"batch 10k: onnxruntime {res['batch_10k_rows_per_s']['onnxruntime']:.0f} rows/s, "
          f"sklearn {res['batch_10k_rows_per_s']['sklearn']:.0f} rows/s -> "
          f"{res['ratios']['batch_throughput_onnx_over_sklearn']:.2f}x")
    print(f"reason codes: {res['reason_codes']['median_ms']:.3f} ms median, "
          f"{res['reason_codes']['p99_ms']:.3f} ms p99")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
