#!/usr/bin/env python3
"""Is an int8 LSTM worth offering for the bilstm student? (issue 28) Times LibTorch's LSTM in
fp32 and as its dynamic int8 LSTM (torch.ao quantize_dynamic: FBGEMM's quantized_lstm, the
only int8 LSTM LibTorch has) at the student's shapes, one thread, and prints ms per batch.
kdtext-classify refuses --precision int8 for bilstm because of what this prints.

  python3 bench/lstm_int8.py [--batch 32] [--tokens 25] [--width 128] [--hidden 128]
"""
import argparse
import time
import warnings

import torch

from common import describe_cpu


def per_batch_ms(module, x, repeats):
    with torch.inference_mode():
        for _ in range(3):
            module(x)
        best = float("inf")
        for _ in range(repeats):
            t = time.perf_counter()
            for _ in range(20):
                module(x)
            best = min(best, (time.perf_counter() - t) / 20 * 1000)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--tokens", type=int, default=25)
    ap.add_argument("--width", type=int, default=128, help="embedding width (LSTM input)")
    ap.add_argument("--hidden", type=int, default=128, help="units per direction")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(args.width, args.hidden, batch_first=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        int8 = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(lstm), {torch.nn.LSTM}, dtype=torch.qint8)[0]
    x = torch.randn(args.batch, args.tokens, args.width)
    fp32_ms, int8_ms = per_batch_ms(lstm, x, args.repeats), per_batch_ms(int8, x, args.repeats)
    with torch.inference_mode():
        diff = (lstm(x)[0] - int8(x)[0]).abs().max().item()
    print(f"CPU: {describe_cpu()}; one thread; one direction, batch {args.batch} x {args.tokens} tokens, "
          f"{args.width} -> {args.hidden}")
    print(f"fp32 {fp32_ms:.2f} ms, int8 {int8_ms:.2f} ms per batch: int8 = {fp32_ms / int8_ms:.2f}x fp32 "
          f"(max |output difference| {diff:.4f})")


if __name__ == "__main__":
    main()
