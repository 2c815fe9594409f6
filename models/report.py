"""Write reports/models/README.md from the JSON reports (``python -m models.report``)."""
from __future__ import annotations

import json

import numpy as np

from .train import REPORTS


def _load(name):
    p = REPORTS / name
    return json.loads(p.read_text()) if p.exists() else None


def resampling_effect(cmp: dict) -> list[str]:
    lines = ["| family | none | smote | nia | nia − none | nia − smote |", "|---|---|---|---|---|---|"]
    fams = []
    for r in cmp.values():
        if r["family"] not in fams:
            fams.append(r["family"])
    allnia, allsm = [], []
    for f in fams:
        g = {r["resampler"]: r for k, r in cmp.items() if r["family"] == f and not r["params"]}
        if not all(k in g for k in ("none", "smote", "nia")):
            continue
        a = {k: g[k]["auc_mean"] for k in g}
        allnia.append(a["nia"] - a["none"])
        allsm.append(a["nia"] - a["smote"])
        lines.append(f"| {f} | {a['none']:.4f} | {a['smote']:.4f} | {a['nia']:.4f} | "
                     f"{a['nia'] - a['none']:+.4f} | {a['nia'] - a['smote']:+.4f} |")
    if allnia:
        lines.append(f"| **mean over families** | | | | {np.mean(allnia):+.4f} | "
                     f"{np.mean(allsm):+.4f} |")
    return lines


def goals_cell(s: dict) -> str:
    """Paired goals against untuned HGB (models.goals) if measured, else the old absolute one."""
    g = s.get("paired_goals")
    if not g:
        if "goal_auc" in s:
            return (f"absolute AUC ≥ {s['goal_auc']} ({'met' if s['goal_auc_met'] else 'NOT met'}; "
                    "paired goals not measured for this model)")
        return "not measured"
    met = {k: "met" if v["met"] else "NOT met" for k, v in g["goals"].items()}
    a, br, ci = g["cv_delta_auc_vs_untuned_hgb"], g["cv_delta_brier_vs_untuned_hgb"], \
        g["holdout_delta_auc_ci95"]
    return (f"paired vs untuned HGB: CV ΔAUC {a['mean']:+.4f} ± {a['sd']:.4f} "
            f"({g['goals']['cv_delta_auc']['target']}: {met['cv_delta_auc']}), CV ΔBrier "
            f"{br['mean']:+.4f} ({met['cv_delta_brier']}), holdout ΔAUC "
            f"{g['holdout_delta_auc']:+.4f} [{ci[0]:+.4f}, {ci[1]:+.4f}] (non-inferior: "
            f"{met['holdout_noninferiority']}; looked at {g['holdout_looked_at']}), calibration "
            f"slope {g['calibration_slope']:.3f} / intercept {g['calibration_intercept']:+.3f} "
            f"({met['calibration']})")


def table_cell(text: str) -> str:
    """Text inside a markdown table cell (a '|' in it would end the cell)."""
    return text.replace("|", "\\|")


def main():
    summ = _load("summary.json") or {}
    lines = ["# Model reports", "",
             "All figures below are measured by the code in `models/` on the frozen holdouts "
             "and shared CV folds; regenerate with the commands in `models/README.md`.", "",
             "## Selected models (frozen 20% holdout)", "",
             "| data set | model id | family / resampler / calibration | AUC [95% CI] | Brier | "
             "KS | H | ECE | goals | untuned HGB AUC / Brier |", "|---|---|---|---|---|---|---|"
             "---|---|---|"]
    notes = []
    for d, s in summ.items():
        b = s["untuned_hgb_holdout"]
        brier_gap = s["brier"] - b["brier"]
        lines.append(f"| {d} | `{s['model_id'][:16]}…` | {s['family']} / {s['resampler']} / "
                     f"{s['calibration']} | {s['auc']:.4f} [{s['auc_ci95'][0]:.4f}, "
                     f"{s['auc_ci95'][1]:.4f}] | {s['brier']:.4f} | {s['ks']:.4f} | "
                     f"{s['h_measure']:.4f} | {s['ece']:.4f} | {goals_cell(s)} | {b['auc']:.4f} / "
                     f"{b['brier']:.4f} (Brier "
                     f"{'no worse' if brier_gap <= 0 else f'{brier_gap:.4f} worse'}) |")
        if s.get("note"):
            notes.append(f"{d}: {s['note']}.")
    lines += [""] + notes if notes else []
    challengers = [(d, c) for d, s in summ.items() for c in s.get("challengers", ())]
    if challengers:
        lines += ["", "## Challengers not served (holdout acceptance)", "",
                  "Chosen by the selection rule, read once on the holdout, and refused there: "
                  "each fails an acceptance goal the served model meets (models/README.md, "
                  "\"Acceptance\").", "",
                  "| data set | model id | configuration / calibration | goals | why |",
                  "|---|---|---|---|---|"]
        lines += [f"| {d} | `{c['model_id'][:16]}…` | {c['configuration']} / "
                  f"{c['calibration']} | {goals_cell(c)} | {table_cell(c['not_served'])} |"
                  for d, c in challengers]
    for d in ("gmsc", "taiwan"):
        cmp = _load(f"comparison_{d}.json")
        if not cmp:
            continue
        lines += ["", f"## Resampling effect on {d} (mean 5-fold CV AUC, default parameters)", "",
                  *resampling_effect(cmp),
                  "", f"Full table: `comparison_{d}.md`."]
    lime = _load("lime_sampling.json")
    if lime:
        lines += ["", "## LIME sampling (constraint violations)", ""]
        for st in lime["studies"]:
            a = st["samplers"]["independent/instance"]
            b = st["samplers"]["correlated/instance"]
            lines.append(f"- {st['dataset']}: any-violation rate independent "
                         f"{a['any_violation_rate']:.3f} vs correlated "
                         f"{b['any_violation_rate']:.3f}; violations per sample "
                         f"{a['violations_per_sample']:.3f} vs {b['violations_per_sample']:.3f} "
                         f"(reduction {100 * st['reduction_instance']['violations_per_sample']:.1f}%"
                         f"; the paper claims ~60%). Details: `lime_sampling.md`.")
    bench = _load("bench_inference.json")
    if bench:
        r = bench["ratios"]
        lines += ["", "## Inference benchmark", "",
                  f"Single row: onnxruntime {bench['single_row']['onnxruntime']['median_ms']:.3f} "
                  f"ms vs scikit-learn {bench['single_row']['sklearn']['median_ms']:.3f} ms "
                  f"(×{r['single_row_latency_sklearn_over_onnx']:.1f}); batch of 10,000: "
                  f"{bench['batch_10k_rows_per_s']['onnxruntime']:.0f} vs "
                  f"{bench['batch_10k_rows_per_s']['sklearn']:.0f} rows/s "
                  f"(×{r['batch_throughput_onnx_over_sklearn']:.2f}); reason codes "
                  f"{bench['reason_codes']['median_ms']:.3f} ms median, "
                  f"{bench['reason_codes']['p99_ms']:.3f} ms p99 (budget 20 ms)."]
    notes = REPORTS / "notes.md"
    if notes.exists():
        lines += ["", notes.read_text().strip()]
    (REPORTS / "README.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
