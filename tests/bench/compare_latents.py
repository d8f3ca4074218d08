#!/usr/bin/env python3
"""Compares latents saved by `gimp-diffusion-cli txt2img --save-latents` (safetensors, one tensor):
the first file is the reference (the CPU run), each other one is checked against it. Prints one
JSON line; exits 1 when a file holds a non-finite value or differs by more than its tolerance
(float32: 1e-2 of the reference's range, as cuDNN runs float32 convolutions in TF32 by default;
float16: 5e-2, the error of a half-precision sampler run)."""
import json
import sys

import numpy as np
from safetensors.numpy import load_file


def first(path):
    t = next(iter(load_file(path).values()))
    return t.astype(np.float64)


ref = first(sys.argv[1])
scale = float(np.abs(ref).max()) or 1.0
report, ok = {"reference": sys.argv[1], "ref_abs_max": scale}, bool(np.isfinite(ref).all())
for path in sys.argv[2:]:
    x = first(path)
    finite = bool(np.isfinite(x).all())
    diff = float(np.abs(x - ref).max()) / scale if finite and x.shape == ref.shape else float("inf")
    tol = 5e-2 if "16" in path.rsplit("/", 1)[-1] else 1e-2
    report[path.rsplit("/", 1)[-1]] = {"finite": finite, "max_rel_diff": diff, "tolerance": tol}
    ok = ok and finite and diff <= tol
report["ok"] = ok
print(json.dumps(report))
sys.exit(0 if ok else 1)
