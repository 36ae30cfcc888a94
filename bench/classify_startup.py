"""kdtext-classify as a command-line tool, not a throughput engine (issue 15):
  - start-up: one line through the whole process (load LibTorch, the checkpoint, the tokenizer,
    classify, exit), wall seconds and peak RSS over --runs runs (median, max);
  - streaming: with the process kept open on a pipe, how long each line waits for its answer
    (micro-batch deadline + model time), over --lines lines sent --gap-ms apart.
Prints one JSON object.

  python3 bench/classify_startup.py --model runs/student/best [--model runs/teacher/best] \\
      [--bin build/bin/kdtext-classify] [--threads 2] [--runs 7] [--lines 20]
"""
import argparse
import json
import os
import statistics
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def one_line(cmd, runs, answer_lines):
    """Wall seconds (median, max) and peak RSS of `cmd` answering one line on standard input, over `runs` runs."""
    walls, rss = [], []
    for _ in range(runs):
        t = time.perf_counter()
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        p.stdin.write(b"a great movie\n")
        p.stdin.close()
        out = p.stdout.read()
        _, status, usage = os.wait4(p.pid, 0)  # this child's own peak RSS (Popen has not reaped it)
        p.returncode = os.waitstatus_to_exitcode(status)
        walls.append(time.perf_counter() - t)
        rss.append(usage.ru_maxrss / 1024)
        assert p.returncode == 0 and out.count(b"\n") == answer_lines, out
    return {"wall_s_median": statistics.median(walls), "wall_s_max": max(walls), "peak_rss_mb": max(rss)}


def startup(binary, model, threads, runs):
    return one_line([binary, "-m", model, "--quiet", "--threads", str(threads)], runs, 2)  # header + answer


def streaming(binary, model, threads, lines, gap_ms):
    p = subprocess.Popen([binary, "-m", model, "--quiet", "--threads", str(threads), "--stream", "on"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
    p.stdout.readline()  # the header comes once the model is loaded
    waits = []
    for i in range(lines):
        t = time.perf_counter()
        p.stdin.write(b"a great movie with a weak ending, take %d\n" % i)
        p.stdout.readline()
        waits.append((time.perf_counter() - t) * 1000)
        time.sleep(gap_ms / 1000)
    p.stdin.close()
    p.wait()
    return {"answer_ms_median": statistics.median(waits), "answer_ms_max": max(waits)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", required=True)
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "bin", "kdtext-classify"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--lines", type=int, default=20)
    ap.add_argument("--gap-ms", type=float, default=200)
    a = ap.parse_args()
    out = {"bin": a.bin, "threads": a.threads, "models": {}}
    for m in a.model:
        out["models"][m] = {"startup": startup(a.bin, m, a.threads, a.runs),
                            "streaming": streaming(a.bin, m, a.threads, a.lines, a.gap_ms)}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
