"""How well a cost table (`a2d cost-table`) predicts whole derived nets: build the table of the
default supernet on a target, then time three derived nets (all k3_e1, all k3_e3, a mixed one)
whole on the same target and print predicted vs measured batch-1 latency.

    python benchmarks/cost_table_accuracy.py --target onnxruntime-cpu [--statistic min]
"""

from __future__ import annotations

import argparse
import json

import torch

from a2d.config import COST_TARGETS
from a2d.models import build
from a2d.models.builder import derived_spec, supernet_spec
from a2d.models.cost_table import build_cost_table, net_latency_ms, predict_ms

MIXED = ["k3_e1", "k5_e3", "k3_e6", "skip", "k3_e1_g2", "k5_e6", "k3_e3"] * 2
NETS = {"all k3_e1": ["k3_e1"] * 14, "all k3_e3": ["k3_e3"] * 14, "mixed": MIXED}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", required=True, choices=COST_TARGETS)
    ap.add_argument("--statistic", choices=["median", "min"], default="median")
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--table-out", help="also write the table here")
    a = ap.parse_args()
    kw = dict(threads=a.threads, statistic=a.statistic)
    table = build_cost_table(supernet_spec(), a.target, repeats=a.repeats, warmup=5, **kw)
    if a.table_out:
        with open(a.table_out, "w") as f:
            json.dump(table, f, indent=1)
    rows = []
    for name, ops in NETS.items():
        torch.manual_seed(0)
        net = build(derived_spec(ops), 18)
        measured = net_latency_ms(net, a.target, repeats=2 * a.repeats, warmup=10, **kw)
        predicted = predict_ms(table, ops)
        rows.append(
            {
                "net": name,
                "predicted_ms": round(predicted, 4),
                "measured_ms": round(measured, 4),
                "error_pct": round(100 * (predicted - measured) / measured, 1),
            }
        )
        print(
            f"{a.target} {a.statistic} {name}: predicted {predicted:.3f} ms, measured "
            f"{measured:.3f} ms, error {rows[-1]['error_pct']:+.1f} %",
            flush=True,
        )
    print(json.dumps({"target": a.target, "machine": table["machine"], "nets": rows}))


if __name__ == "__main__":
    main()
