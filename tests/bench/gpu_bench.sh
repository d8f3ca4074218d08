#!/usr/bin/env bash
# One visit to a GPU machine (no GIMP, no internet; a CUDA PyTorch, nvcc, ninja, meson and the
# engine's -dev packages: nlohmann-json, libpng, zlib, ICU). Builds the engine against the pip
# torch's bundled LibTorch with the CUDA kernels, checks the kernels against their CPU references,
# then times on the GPU, each with its baseline from the same run:
#   - the SD 2.1-768 UNet step (CFG batch 2, 96x96 latents): float32, TF32, float16, bfloat16, the
#     last two also replayed from a CUDA graph;
#   - the VAE decode at 768 in the same precisions;
#   - a whole 30-step 768x768 image (text encoder, sampler, VAE decode) in float16 and bfloat16,
#     and the device memory the process holds afterwards (the caching allocator keeps its peak).
# First it checks the fused kernels and A1111's NV noise against CUDA's randn.
# Every line of OUT_DIR/gpu_bench.jsonl is one `gimp-diffusion-cli bench` report.
#   tests/bench/gpu_bench.sh [OUT_DIR]          (about 5 minutes on an H100/H200, build included)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(realpath -m "${1:-$root/build-gpu-bench}")
mkdir -p "$out"
export PATH="$PATH:/usr/local/cuda/bin"
torch_dir=$(python3 -c 'import torch, os; print(os.path.dirname(torch.__file__))')
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))'
if [ ! -f "$out/build/build.ninja" ]; then
  meson setup "$out/build" "$root" -Dtorch_dir="$torch_dir" -Dcuda=enabled -Dplugin=disabled -Dtests=false \
    -Dbuildtype=release
fi
ninja -C "$out/build" inference/engine/gimp-diffusion-cli
cli="$out/build/inference/engine/gimp-diffusion-cli"
log="$out/gpu_bench.jsonl"
: > "$log"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
bench() { "$cli" bench --device cuda "$@" | tee -a "$log"; }
# 1. The kernels first: a wrong kernel makes every figure after it meaningless.
for dtype in float32 float16 bfloat16; do bench --what kernels --dtype "$dtype"; done
# A1111's "NV" noise (computed on the CPU) against this device's own randn, seed by seed.
bench --what nv-noise
# 2. UNet step and VAE decode; float32 is the baseline of the ratios.
bench --what unet --arch sd21 --size 768 --dtype float32 --channels-last 1 --repeat 10
bench --what unet --arch sd21 --size 768 --dtype float32 --tf32 1 --channels-last 1 --repeat 10
for dtype in float16 bfloat16; do
  bench --what unet --arch sd21 --size 768 --dtype "$dtype" --channels-last 1 --cuda-graphs 1 --repeat 20
done
for dtype in float32 float16 bfloat16; do
  bench --what vae --arch sd21 --size 768 --dtype "$dtype" --channels-last 1 --repeat 5
done
# 3. Whole images.
for dtype in float16 bfloat16; do
  bench --what image --arch sd21 --size 768 --steps 30 --dtype "$dtype" --repeat 3
done
echo "reports: $log"
