#!/usr/bin/env bash
# CPU benchmark: full-size SD 1.5 and SD 2.1 architectures with random weights, UNet step (CFG batch
# of 2) and VAE decode at 512 and 768, fp32 (the baseline, measured in the same run) against bf16.
# Prints one JSON line per measurement and the bf16/fp32 ratios.
#   tests/bench/cpu_bench.sh [BUILD_DIR]        (takes tens of minutes on 2 cores)
set -euo pipefail
cli=${1:-build}/inference/engine/gimp-diffusion-cli
run() { "$cli" bench "$@" 2>/dev/null; }
for arch in sd15 sd21; do
  for size in 512 768; do
    base=$(run --arch "$arch" --size "$size" --dtype float32)
    fast=$(run --arch "$arch" --size "$size" --dtype bfloat16)
    echo "$base"; echo "$fast"
    python3 - "$base" "$fast" <<'PY'
import json, sys
b, f = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for k in ("unet_step_cfg2_s", "vae_decode_s"):
    print(f"{b['arch']} {b['size']} {k}: fp32 {b[k]:.2f} s, bf16 {f[k]:.2f} s, ratio {b[k] / f[k]:.2f}x")
PY
  done
done
