#!/usr/bin/env python3
"""Where the time of a `gimp-diffusion-cli bench ... --profile TRACE.json` run went.

Reads the Chrome trace (LibTorch 2.x's Kineto trace, an object with "traceEvents", or LibTorch 1.x's
legacy list of events) and prints, heaviest first:
  - GPU kernels (Kineto traces of a CUDA run): total time, calls and mean per kernel name;
  - CPU operators by self time (the time of an op less that of the ops it called), per name.
Names are cut to --width characters (cuDNN's and CUTLASS's template names run to hundreds).

  python3 tests/bench/trace_summary.py TRACE.json [--top 30] [--width 110] [--per N]
--per N divides every total by N (the number of steps profiled, for per-step figures).
"""
import argparse
import collections
import json
import sys


def load_events(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        data = json.load(f)
    events = data.get("traceEvents", []) if isinstance(data, dict) else data
    return [e for e in events if isinstance(e, dict) and e.get("ph") == "X" and "dur" in e]


def self_times(events):
    """Per event, its duration less its direct children's, children found by nesting per thread."""
    by_thread = collections.defaultdict(list)
    for e in events:
        by_thread[(e.get("pid"), e.get("tid"))].append(e)
    out = []
    for evs in by_thread.values():
        evs.sort(key=lambda e: (float(e["ts"]), -float(e["dur"])))
        stack = []  # [end, event, children_time]
        for e in evs:
            start, dur = float(e["ts"]), float(e["dur"])
            while stack and stack[-1][0] <= start:
                end, ev, child = stack.pop()
                out.append((ev["name"], float(ev["dur"]) - child))
            if stack:
                stack[-1][2] += dur
            stack.append([start + dur, e, 0.0])
        for end, ev, child in stack:
            out.append((ev["name"], float(ev["dur"]) - child))
    return out


def table(title, rows, top, width, per):
    totals = collections.defaultdict(float)
    calls = collections.Counter()
    for name, us in rows:
        totals[name] += us
        calls[name] += 1
    grand = sum(totals.values())
    print(f"== {title}: {grand / per / 1000:.3f} ms" + (f" per step ({per} profiled)" if per > 1 else ""))
    print(f"{'ms':>9} {'share':>6} {'calls':>6} {'mean us':>9}  name")
    for name, us in sorted(totals.items(), key=lambda kv: -kv[1])[:top]:
        short = name if len(name) <= width else name[: width - 3] + "..."
        print(f"{us / per / 1000:9.3f} {100 * us / grand:5.1f}% {calls[name] / per:6g} {us / calls[name]:9.1f}  {short}")
    print()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("trace")
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--width", type=int, default=110)
    ap.add_argument("--per", type=int, default=1)
    a = ap.parse_args()
    events = load_events(a.trace)
    if not events:
        sys.exit(f"{a.trace}: no timed events; is it a trace from bench --profile?")
    per = max(1, a.per)
    kernels = [(e["name"], float(e["dur"])) for e in events if str(e.get("cat", "")).lower() in ("kernel", "gpu_memcpy", "gpu_memset")]
    if kernels:
        table("GPU kernels", kernels, a.top, a.width, per)
    # Kineto marks operators "cpu_op"; the legacy trace has nothing but operators.
    cpu = [e for e in events if e.get("cat") in (None, "cpu_op", "user_annotation")]
    if cpu:
        table("CPU operators, self time", self_times(cpu), a.top, a.width, per)


if __name__ == "__main__":
    main()
