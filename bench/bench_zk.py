"""Zero-knowledge proof of a score, measured (issue 16; not a test). Writes reports/zk.{md,json}.

    .venv/bin/python bench/bench_zk.py [--bundle DIR] [--rows N] [--proofs 20]

The bundle is GMSC's points scorecard (family ``scorecard``, trained, gated and carded for the run
by ``python -m models train gmsc --family scorecard`` under build/zk-bench/) unless ``--bundle``
names another provable bundle (e.g. a federated logistic one). Its holdout AUC is set beside the
served default model's on the same rows, with a paired bootstrap interval: the price of
provability. What is measured with
models.zk: the circuit's set-up (time, sizes of the verifying and proving keys), ``--proofs``
proofs of different holdout applicants (time each, proof size), the peak memory of this process,
and the fixed-point error of the circuit's PD against onnxruntime's on ``--rows`` holdout rows
(default: the whole holdout): how often the PD the score registry derives from the circuit's
logit (contracts/zk/ScoreMath.sol, mirrored by models.zk.pd_bps_from_logit) rounds to another
pdBps than onnxruntime's, and by how much. Then on a fresh anvil (bench/zk_chain.py): the
verifier's size and deployment gas, and the gas of ``submitProven`` for the first proofs.
The SRS is generated locally (tests only).
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OUT = ROOT / "build" / "zk-bench"


def _bundle(path: str | None) -> Path:
    if path:
        return Path(path)
    bundle = OUT / "scorecard"
    if not (bundle / "manifest.json").exists():
        from models.__main__ import main as models_main
        if models_main(["train", "gmsc", "--family", "scorecard", "--out", str(bundle),
                        "--reports", str(OUT / "scorecard-reports"), "--force"]) != 0:
            raise SystemExit("training the scorecard failed")
    return bundle


def run(bundle: Path, rows: int | None, proofs: int) -> dict:
    from models import serving as S
    from models import zk
    from models.data import load_dataset, make_splits
    ref = json.loads((bundle / "reference.json").read_text())
    schema = json.loads((bundle / ref["schema_file"]).read_text())
    ds = load_dataset(schema["name"])
    sp = make_splits(ds.y, ds.X)
    circuit = OUT / "circuit"
    info = zk.setup(bundle, circuit, ds.X[sp.train_idx])
    Xh = ds.X[sp.holdout_idx if rows is None else sp.holdout_idx[:rows]]
    Z = zk.features_z(bundle, Xh)
    t0 = time.time()
    logits = zk.circuit_logits(circuit, Z)
    witness_s = (time.time() - t0) / len(Z)
    pz = 1.0 / (1.0 + np.exp(-logits))
    pd = S.predict_pd(S.load_bundle(bundle), Xh).astype(np.float64)
    scale = info["output_scale"]
    # the canonical pdBps: what the registry derives from the proven logit
    bz = np.array([zk.pd_bps_from_logit(int(round(v * 2**scale)) % zk.FIELD, scale) for v in logits])
    # what the signers compute instead (models.zk.canonical, no EZKL): must be the witness's logit
    from models.zk.canonical import CircuitPD
    ref = json.loads((bundle / "reference.json").read_text())
    canonical = CircuitPD((bundle / ref["onnx_file"]).read_bytes(), scale)
    t0 = time.time()
    emulated = [canonical.logit(x) for x in Xh]
    emulation_s = (time.time() - t0) / len(Xh)
    emulation_equal = sum(e == int(round(v * 2**scale)) % zk.FIELD for e, v in zip(emulated, logits))
    from models.goals import paired_bootstrap_delta_auc
    from models.metrics import auc
    from models.train import ROOT as MODELS_ROOT
    served_dir = MODELS_ROOT / "models" / "default"
    served = S.predict_pd(S.load_bundle(served_dir), Xh).astype(np.float64)
    yh = ds.y[sp.holdout_idx if rows is None else sp.holdout_idx[:rows]]
    card = json.loads((bundle / "model_card.json").read_text()) if (bundle / "model_card.json").exists() else {}
    served_card = json.loads((served_dir / "model_card.json").read_text())
    price = {"proven_family": card.get("details", {}).get("family", "not carded"),
             "served_family": served_card["details"]["family"],
             "proven_auc": float(auc(yh, bz / 10_000)), "served_auc": float(auc(yh, served)),
             **paired_bootstrap_delta_auc(yh, bz / 10_000, served, n_boot=2000)}
    bo = np.array([S.pd_to_bps(p) for p in pd])
    times, sizes = [], []
    for i in range(proofs):  # for made-up borrowers and nonces: the chain run proves for its own
        r = zk.prove(circuit, Z[i], zk.blinding(bytes([i]) * 32),
                     zk.loan_binding("0x" + f"{i + 1:040x}", 1), OUT / "proofs" / str(i))
        assert zk.verify(circuit, OUT / "proofs" / str(i) / "proof.json")
        times.append(r["prove_seconds"])
        sizes.append(r["proof_bytes"])
    from bench.zk_chain import measure
    chain = measure(circuit, [(Z[i], bytes([i]) * 32) for i in range(min(proofs, 5))], OUT / "proofs")
    return {"chain": chain, "price": price,
        "bundle_id": info["bundle_id"], "features": info["features"], "blinding": info["blinding"],
        "loan_chunks": info["loan_chunks"],
        "logrows": info["logrows"],
        "input_scale": info["input_scale"], "setup_seconds": info["setup_seconds"],
        "vk_bytes": info["sizes"]["vk.key"], "pk_bytes": info["sizes"]["pk.key"],
        "proofs": proofs, "prove_seconds": {"median": float(np.median(times)),
                                            "max": float(np.max(times))},
        "proof_bytes": int(np.median(sizes)),
        "witness_ms_per_row": witness_s * 1000, "emulation_ms_per_row": emulation_s * 1000,
        "parity": {"rows": int(len(Xh)), "max_abs_pd_error": float(np.abs(pz - pd).max()),
                   "mean_abs_pd_error": float(np.abs(pz - pd).mean()),
                   "rows_with_another_pd_bps": int((bz != bo).sum()),
                   "max_pd_bps_difference": int(np.abs(bz - bo).max()),
                   "signers_logit_equal_to_witness": int(emulation_equal)},
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "srs": "local, generated by ezkl.gen_srs (tests only)",
        "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()},
    }


SOUNDNESS = """## What is proven, and what is trusted

- **Tested on chain** (tests/contracts/test_zk_scores.py, each rejected with nothing recorded):
  a tampered proof; another PD (the logit changed, or another applicant's); a proof over other
  features than the attested commitment; another borrower's attestation and proof, and a proof
  made for another borrower or another loan request (the borrower and the request's nonce are
  public inputs: keccak256(borrower, nonce) in six 22-bit chunks, recomputed by the registry); a
  proof from another model's circuit (each verifier holds its own verifying key); an attestation
  signed before the request (its nonce is void) or with no request open; a replay; a model
  without a circuit, a revoked one, and a circuit set by anyone but the model's registrar or
  after approval.
- **Trusted:** the k signers for the commitment (they hold the features, as the data provider or
  the oracle quorum, and sign only after the request, for that borrower and nonce); the
  preprocessing, which runs outside the circuit (EZKL does not take IsNaN and friends): the
  commitment is over the model's standardised inputs, so the signers run the bundle's features
  graph; the verifier contract, which must be the one EZKL renders from the registered verifying
  key (its SHA-256 is recorded with the model; `python -m models zk verifier DIR` re-renders and
  compiles it to compare).
- **Trusted setup:** the KZG parameters here are generated locally by `ezkl.gen_srs` and are fit
  for tests only: whoever knows their secret can forge proofs. Production needs a public
  ceremony's parameters (for example the perpetual powers-of-tau of the Ethereum and Halo2
  communities), passed with `--srs`.
- **Reasons:** the proof covers the PD, not the adverse-action reasons; the signers give the
  reason codes with the commitment, from the same bundle.
- **Tree models:** a boosted ensemble is a sum of tree outputs; it can be proven once rewritten as
  comparisons and one-hot lookups in ReLU tensor ops (about 10 s for 20 trees, 235 s, 6.2 GB and a
  2.6 GB proving key for 100, measured by the issue's author), with the circuit's output checked
  against onnxruntime's on the holdout: a naive encoding proved a wrong probability. Its
  verifier would then have to be split or made reusable (EZKL's reusable verifier with a separate
  verifying-key artefact) to stay under 24 KB."""


def markdown(r: dict) -> str:
    p, c, pr = r["parity"], r["chain"], r["price"]
    return "\n".join([
        "# Zero-knowledge proof of a score, measured", "",
        "`python bench/bench_zk.py` (models/zk/, EZKL 23.0.5) on this machine "
        f"({r['machine']['cpus']} cores). The circuit proves a GMSC model's "
        "logit over its preprocessed inputs (for the scorecard: its WoE bins), which stay private behind a Poseidon commitment "
        "blinded by the borrower's salt; the "
        "PD is derived on chain from the proven logit (contracts/zk/ScoreMath.sol). The SRS is a "
        "local one (tests only: production needs a public ceremony's parameters).", "",
        "| figure | value |", "|---|---|",
        f"| proven model | {pr['proven_family']} (bundle {r['bundle_id'][:16]}…) |",
        f"| holdout AUC of the proven PD / of the served model ({pr['served_family']}) | "
        f"{pr['proven_auc']:.4f} / {pr['served_auc']:.4f} |",
        f"| price of provability: Δ AUC, paired bootstrap 95 % ({pr['resamples']:,} resamples) | "
        f"{pr['delta']:+.4f} [{pr['ci95'][0]:+.4f}, {pr['ci95'][1]:+.4f}] |",
        f"| circuit inputs / rows | {r['features']} features + {r['blinding']} blinding + "
        f"{r['loan_chunks']} borrower-and-loan (public) / "
        f"2^{r['logrows']} |",
        f"| fixed point | 2^{r['input_scale']} |",
        f"| set-up (calibration, compile, keys) | {r['setup_seconds']:.1f} s |",
        f"| verifying key / proving key | {r['vk_bytes']:,} / {r['pk_bytes']:,} bytes |",
        f"| proof time, median / max of {r['proofs']} | {r['prove_seconds']['median']:.2f} / "
        f"{r['prove_seconds']['max']:.2f} s |",
        f"| proof size | {r['proof_bytes']:,} bytes |",
        f"| peak memory of the process | {r['peak_rss_mb']:.0f} MB |",
        f"| circuit PD against onnxruntime's, {p['rows']:,} holdout rows | max |Δ| "
        f"{p['max_abs_pd_error']:.2e}, mean {p['mean_abs_pd_error']:.2e} |",
        f"| rows whose pdBps differs | {p['rows_with_another_pd_bps']:,} of {p['rows']:,} "
        f"(by at most {p['max_pd_bps_difference']} bps) |",
        f"| signers' logit (models.zk.canonical, no EZKL) equal to EZKL's witness | "
        f"{p['signers_logit_equal_to_witness']:,} of {p['rows']:,} rows |",
        f"| time per row: EZKL witness / signers' emulation | {r['witness_ms_per_row']:.2f} / "
        f"{r['emulation_ms_per_row']:.3f} ms |", "",
        "A pdBps that differs is a rounding boundary crossed by the fixed-point error; for a "
        "zk-scored model the PD the registry derives from the proven logit is the canonical one "
        "(`provenPdAndScore`), and every path uses it: the oracle's k-of-n signers, `oracle "
        "verify`, the disclosure audit and `oracle prove` compute the circuit's logit exactly "
        "(inputs and weights at the fixed point, the product rescaled half away from zero, as "
        "EZKL does; `python -m models zk setup` refuses a circuit whose witness differs on spread "
        "rows or a rounding tie), so a borrower cannot choose between a signed and a proven score "
        "for the one that rounds better (tests/oracle/integration/test_zk_signers.py: three nodes "
        "record the circuit's PD for applicants on a rounding boundary). A pull with `\"proof\": "
        "true` returns the k-signed features commitment and the node's proof instead of a signed "
        "PD: what `submitProven` takes (oracle/http.py, oracle/proving.py).", "",
        "## On chain (a fresh anvil, bench/zk_chain.py)", "",
        "| figure | value |", "|---|---|",
        f"| Halo2Verifier code size / deployment gas | {c['verifier_deployed_bytes']:,} bytes / "
        f"{c['verifier_deploy_gas']:,} |",
        f"| CreditScoreRegistry / ModelRegistry code size (limit 24,576) | "
        f"{c['registry_deployed_bytes']:,} / {c['model_registry_deployed_bytes']:,} bytes |",
        f"| `setZkCircuit` gas | {c['set_zk_circuit_gas']:,} |",
        f"| `verifyProof` gas alone (estimate), median of {len(c['runs'])} | "
        f"{int(np.median([x['verify_proof_gas'] for x in c['runs']])):,} |",
        f"| `submitProven` gas (3-of-5 signatures, proof, record), median of {len(c['runs'])} | "
        f"{int(np.median([x['submit_proven_gas'] for x in c['runs']])):,} |",
        f"| recorded PD and score equal models.zk's | "
        f"{sum(x['matches_models_zk'] for x in c['runs'])} of {len(c['runs'])} |", "",
        SOUNDNESS, ""])


def main(argv=None) -> int:
    from models import add_version_argument
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_version_argument(ap, "bench_zk")
    ap.add_argument("--bundle", default="")
    ap.add_argument("--rows", type=int, default=None, help="holdout rows (default: all)")
    ap.add_argument("--proofs", type=int, default=20)
    ap.add_argument("--out", default=str(ROOT / "reports" / "zk"))
    a = ap.parse_args(argv)
    r = run(_bundle(a.bundle or None), a.rows, a.proofs)
    out = Path(a.out)
    out.with_suffix(".json").write_text(json.dumps(r, indent=1) + "\n")
    out.with_suffix(".md").write_text(markdown(r))
    print(markdown(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
