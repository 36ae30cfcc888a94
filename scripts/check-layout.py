#!/usr/bin/env python3
"""Checks the library's layout rules (docs/ARCHITECTURE.md, "Areas"):
  - each area includes only the areas it may (and so the area graph has no cycle); distillation's
    losses and objective only model and util (FILE_ALLOWED);
  - the top of include/kdtext/ holds only the public headers (PUBLIC_HEADERS), which include
    nothing internal (issue 27: only they are installed);
  - no file in src/stages/ is over 200 lines, no file in src/ over 500 (issue 27);
  - no function in src/ is over 60 lines (a brace-matching heuristic for this code's style);
  - every file the product writes goes through util/atomic (AtomicFileWriter, write_file_atomic):
    no other std::ofstream, fopen, fstream, O_CREAT open or torch::save to a path, except the
    append-only logs and the lock file listed in WRITERS_ALLOWED (issue 26);
  - src/CMakeLists.txt's KDTEXT_TORCH_FREE_SOURCES lists exactly the sources that reach no
    LibTorch header (they skip the LibTorch precompiled header, whose load costs them more than
    their own compilation).
Prints every violation and exits 1 if there is one.   usage: check-layout.py [REPO]"""
import os
import re
import sys

ALLOWED = {
    "util": set(),
    "eval": {"util"},
    "text": {"util"},
    "model": {"util"},
    "distill": {"eval", "feed", "infer", "io", "model", "parallel", "text", "train", "util"},
    "io": {"model", "text", "util"},
    "train": {"cli", "infer", "parallel", "io", "model", "text", "util"},
    "feed": {"text", "util"},
    "infer": {"feed", "io", "model", "text", "eval", "util"},
    "augment": {"model", "text", "util"},
    "device": {"util"},
    "parallel": {"util"},
    "cli": {"device", "parallel", "util"},
    "classifier": {"device", "feed", "infer", "text", "util"},
    "stages": {"augment", "classifier", "cli", "device", "parallel", "distill", "eval", "feed", "infer", "io", "model",
               "text", "train", "util"},
}
# Files held to fewer includes than their area: distillation's losses and objective are pure
# functions of tensors and configurations (unit-tested without data, training or files).
FILE_ALLOWED = {
    stem: {"model", "util", "distill/losses.h", "distill/objective.h"}
    for stem in ("distill/losses", "distill/objective")
}
# The C++ API: the only headers at the top of include/kdtext/ (with the generated version.h), the
# only ones installed, and they include nothing else of kdtext's.
PUBLIC_HEADERS = {"classifier.h", "error.h"}
MAX_STAGE_FILE_LINES = 200
MAX_SOURCE_FILE_LINES = 500
MAX_FUNCTION_LINES = 60
# Direct writes that bypass the atomic writer, and the only files that may make them.
DIRECT_WRITE = re.compile(r"std::ofstream|std::fstream|\bfopen\s*\(|O_CREAT|torch::save\s*\([^)]*(\.string\(\)|\"|path)")
WRITERS_ALLOWED = {
    "src/util/atomic.cpp": "the atomic writer itself",
    "include/kdtext/util/atomic.h": "the atomic writer itself",
    "src/util/progress.cpp": "metrics.jsonl, an append-only log (one whole line per write; a resume truncates it)",
    "src/util/lock.cpp": "the lock file <dir>.lock, which holds no data",
}
CONTROL = re.compile(r"^\s*(if|for|while|switch|catch|else|do|try|namespace|struct|class|enum|union|extern)\b")


def area(rel):
    parts = rel.split("/")
    parts = parts[2:] if parts[0] == "include" else parts[1:]
    return parts[0] if len(parts) > 1 else os.path.splitext(parts[0])[0]


def sources(root):
    for base in ("include/kdtext", "src"):
        for d, _, files in os.walk(os.path.join(root, base)):
            for f in sorted(files):
                if f.endswith((".h", ".cpp")):
                    full = os.path.join(d, f)
                    yield full, os.path.relpath(full, root)


def long_functions(text):
    """(first line, length, signature) of outermost function bodies."""
    depth, start, pending, out = 0, None, "", []
    for i, line in enumerate(text.split("\n")):
        s = re.sub(r"//.*", "", line)
        s = re.sub(r'"([^"\\]|\\.)*"', '""', s)
        opens, closes = s.count("{"), s.count("}")
        head = pending + s
        if (start is None and opens > closes and ")" in head and not CONTROL.match(head)
                and "=" not in s.split("(")[0] and not s.strip().startswith(("[", "}"))):
            start = (i, depth, head.strip()[:80])
        depth += opens - closes
        if start and depth <= start[1]:
            out.append((start[0] + 1, i - start[0] + 1, start[2]))
            start = None
        pending = s if (s.strip() and not s.strip().endswith((";", "{", "}"))) else ""
    return out


def reaches_torch(path, root, memo):
    """Whether `path` includes a LibTorch header, directly or through kdtext's headers."""
    if path in memo:
        return memo[path]
    memo[path] = False  # include cycles end here
    text = open(path, encoding="utf-8").read()
    found = bool(re.search(r"#include\s*<(torch|ATen|c10|caffe2)/", text))
    for m in re.finditer(r'#include\s*"([^"]+)"', text):
        for cand in (os.path.join(root, "include", m.group(1)), os.path.join(os.path.dirname(path), m.group(1))):
            if not found and os.path.exists(cand) and reaches_torch(cand, root, memo):
                found = True
    memo[path] = found
    return found


def torch_free_list_problems(root, folder, subfolders):
    """KDTEXT_TORCH_FREE_SOURCES in FOLDER/CMakeLists.txt against its sources (in `subfolders`, or all)."""
    cmake = open(os.path.join(root, folder, "CMakeLists.txt"), encoding="utf-8").read()
    m = re.search(r"set\(KDTEXT_TORCH_FREE_SOURCES([^)]*)\)", cmake)
    if not m:
        return [f"{folder}/CMakeLists.txt: no set(KDTEXT_TORCH_FREE_SOURCES ...)"]
    listed = set(m.group(1).split())
    memo, free = {}, set()
    for d, _, files in os.walk(os.path.join(root, folder)):
        for f in files:
            full = os.path.join(d, f)
            rel = os.path.relpath(full, os.path.join(root, folder))
            if (f.endswith(".cpp") and (subfolders is None or rel.split("/")[0] in subfolders) and "/engines/" not in full
                    and not reaches_torch(full, root, memo)):
                free.add(rel)
    return ([f"{folder}/{f}: includes no LibTorch header; add it to KDTEXT_TORCH_FREE_SOURCES in "
             f"{folder}/CMakeLists.txt" for f in sorted(free - listed)] +
            [f"{folder}/{f}: in KDTEXT_TORCH_FREE_SOURCES but reaches a LibTorch header" for f in sorted(listed - free)])


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    problems = []
    for full, rel in sources(root):
        text = open(full, encoding="utf-8").read()
        a = area(rel)
        for m in re.finditer(r'#include "kdtext/([^"]+)"', text):
            target = m.group(1)
            t = target.split("/")[0] if "/" in target else os.path.splitext(target)[0]
            if t in ("version", "error"):
                continue
            stem = re.sub(r"^(include/kdtext|src)/|\.(h|cpp)$", "", rel)
            if stem in FILE_ALLOWED and t not in FILE_ALLOWED[stem] and target not in FILE_ALLOWED[stem]:
                problems.append(f"{rel}: may include only {', '.join(sorted(FILE_ALLOWED[stem]))}, not kdtext/{target}")
            if t != a and (a not in ALLOWED or t not in ALLOWED[a]):
                problems.append(f"{rel}: area '{a}' may not include kdtext/{target} (area '{t}')")
        if re.fullmatch(r"include/kdtext/[^/]+\.h", rel):
            if os.path.basename(rel) not in PUBLIC_HEADERS:
                problems.append(f"{rel}: only the public headers ({', '.join(sorted(PUBLIC_HEADERS))}) live at the "
                                "top of include/kdtext/; internal ones go in their area's directory")
            for m in re.finditer(r'#include "kdtext/([^"]+)"', text):
                if m.group(1) not in PUBLIC_HEADERS | {"version.h"}:
                    problems.append(f"{rel}: a public header includes the internal kdtext/{m.group(1)}")
        if rel not in WRITERS_ALLOWED:
            for i, line in enumerate(text.split("\n"), 1):
                code = re.sub(r"//.*", "", line)
                if DIRECT_WRITE.search(code):
                    problems.append(f"{rel}:{i}: writes a file without util/atomic: {line.strip()[:80]}")
        if rel.startswith("src/stages/") and text.count("\n") > MAX_STAGE_FILE_LINES:
            problems.append(f"{rel}: {text.count(chr(10))} lines (stage files stay under {MAX_STAGE_FILE_LINES})")
        elif rel.startswith("src/") and text.count("\n") > MAX_SOURCE_FILE_LINES:
            problems.append(f"{rel}: {text.count(chr(10))} lines (files in src/ stay under {MAX_SOURCE_FILE_LINES})")
        if rel.startswith("src/"):
            for line, n, sig in long_functions(text):
                if n > MAX_FUNCTION_LINES:
                    problems.append(f"{rel}:{line}: function of {n} lines (limit {MAX_FUNCTION_LINES}): {sig}")
    problems += torch_free_list_problems(root, "src", None)
    problems += torch_free_list_problems(root, "tests", {"unit", "e2e"})
    for p in problems:
        print(p)
    print(f"layout: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
