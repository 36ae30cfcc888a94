#!/usr/bin/env python3
"""Why bf16 is fast or slow on this CPU (issue 30; prints figures, not a test).

For the Linear shapes of a 6x384 teacher (MiniLM-L6) and a 3x256 student at batch 1 and 32 (x 25
tokens, SST-2's mean), one thread: the time of an fp32 Linear (what kdtext's fp32 engine runs),
a bf16 Linear with the weight in its stored layout (torch.nn.functional.linear: oneDNN repacks it
on every call) and with the weight reordered once (mkldnn._linear_pointwise, what kdtext's bf16
engine runs), and the fp32 -> bf16 conversion of the activations; with the square-matmul peaks
in fp32 and bf16 and the oneDNN ISA. A bf16 peak under about 1.5x the fp32 one means the CPU's
bf16 dot-product instructions do not outrun its fp32 FMAs, and no layout will make bf16 win.

  python3 bench/bf16_kernels.py [--threads 1] [--json OUT]
"""
import argparse
import json
import os
import subprocess
import sys
import time

import torch

from common import cpu_facts, describe_cpu, matmul_peak

SHAPES = {"teacher": [(384, 1152), (384, 384), (384, 1536), (1536, 384)],
          "student": [(256, 768), (256, 256), (256, 1024), (1024, 256)]}


def per_call_ms(fn, reps):
    for _ in range(3):
        fn()
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t) / reps * 1e3


def onednn_isa(threads):
    code = "import torch; torch.set_num_threads(1); a=torch.randn(64,64).bfloat16(); (a@a)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=dict(os.environ, ONEDNN_VERBOSE="1"))
    return next((l.split("isa:", 1)[1].strip(",") for l in r.stdout.splitlines() if "isa:" in l), "?")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tokens", type=int, default=25)
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    fp32_peak, bf16_peak = matmul_peak(args.threads)
    rows = []
    with torch.inference_mode():
        for model, shapes in SHAPES.items():
            for batch in (1, 32):
                m = batch * args.tokens
                tot = {"fp32": 0.0, "bf16 stored layout": 0.0, "bf16 reordered": 0.0, "fp32->bf16 input": 0.0}
                for k, n in shapes:
                    x, w, b = torch.randn(m, k), torch.randn(n, k), torch.randn(n)
                    xb, wb, bb = x.bfloat16(), w.bfloat16(), b.bfloat16()
                    packed = torch.ops.mkldnn._reorder_linear_weight(wb, None)
                    reps = 200 if batch == 1 else 30
                    tot["fp32"] += per_call_ms(lambda: torch.nn.functional.linear(x, w, b), reps)
                    tot["bf16 stored layout"] += per_call_ms(lambda: torch.nn.functional.linear(xb, wb, bb), reps)
                    tot["bf16 reordered"] += per_call_ms(
                        lambda: torch.ops.mkldnn._linear_pointwise(xb, packed, bb, "none", [], ""), reps)
                    tot["fp32->bf16 input"] += per_call_ms(lambda: x.bfloat16(), reps)
                rows.append({"model": model, "batch": batch, "rows": m, **tot})
    cpu = cpu_facts()
    print(f"# {describe_cpu(cpu)}; oneDNN ISA: {onednn_isa(args.threads)}; {args.threads} thread(s)")
    print(f"square matmul peak: fp32 {fp32_peak / 1e9:.0f} GFLOP/s, bf16 {bf16_peak / 1e9:.0f} GFLOP/s "
          f"(bf16 / fp32 = {bf16_peak / fp32_peak:.2f}x)\n")
    print("| model | batch | rows | fp32 ms | bf16, stored layout ms | bf16, reordered once ms | "
          "fp32->bf16 of the inputs ms | bf16 reordered vs fp32 |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['model']} | {r['batch']} | {r['rows']} | {r['fp32']:.3f} | {r['bf16 stored layout']:.3f} | "
              f"{r['bf16 reordered']:.3f} | {r['fp32->bf16 input']:.3f} | {r['fp32'] / r['bf16 reordered']:.2f}x |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cpu": cpu, "threads": args.threads, "matmul_peak": {"fp32": fp32_peak, "bf16": bf16_peak},
                       "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
