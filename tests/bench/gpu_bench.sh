#!/usr/bin/env bash
# GPU benchmark for a machine with a CUDA PyTorch and no GIMP: builds the engine against the pip
# torch's bundled LibTorch, then times the SD 2.1-768 UNet step (CFG batch 2, 96x96 latents) and the
# VAE decode in fp32 (baseline, same run), fp16 and bf16 on the GPU, with peak memory.
#   tests/bench/gpu_bench.sh [OUT_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(realpath -m "${1:-$root/build-gpu-bench}")
torch_dir=$(python3 -c 'import torch, os; print(os.path.dirname(torch.__file__))')
[ -f "$out/build.ninja" ] || meson setup "$out" "$root" -Dtorch_dir="$torch_dir" -Dplugin=disabled -Dtests=false -Dbuildtype=release
ninja -C "$out" inference/engine/gimp-diffusion-cli
cli="$out/inference/engine/gimp-diffusion-cli"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
for dtype in float32 float16 bfloat16; do
  "$cli" bench --device cuda --arch sd21 --size 768 --dtype "$dtype" --repeat 10
done
