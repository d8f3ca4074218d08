#!/usr/bin/env bash
# One visit to a GPU machine (no GIMP, no internet, no package manager; a CUDA PyTorch, nvcc, meson
# and ninja). Builds the engine against the pip torch's bundled LibTorch with the CUDA kernels, then
# runs, most valuable first, each step under its own time limit and all under DEADLINE seconds:
#   1. CUDA's own torch.randn for A1111's seeds, saved (cuda_randn.json/.bin) for a check anywhere:
#      `gimp-diffusion-cli bench --what nv-noise --reference cuda_randn.json`;
#   2. the build (build.log);
#   3. the fused kernels on the device against their CPU references in 3 dtypes, the NV noise source
#      against CUDA's randn in-process;
#   4. a tiny SD 2.x v-model (TINY, optional) generated on the CPU and on CUDA in float32 and float16:
#      the latents must agree (tiny.txt);
#      (Hires. fix too: latent mode on CPU and CUDA compared, an image upscaler in float16)
#   5. timings, each with its baseline from the same run: the SD 2.1-768 UNet step (CFG batch 2,
#      96x96 latents) in float16/bfloat16 with CUDA graphs, float32, TF32; a whole 30-step 768x768
#      image with its peak memory; the VAE decode at 768; then one bfloat16 step profiled, its
#      kernels summed by name in OUT/unet_bf16_kernels.txt (tests/bench/trace_summary.py).
# Every line of OUT/gpu_bench.jsonl is one `gimp-diffusion-cli bench` report; OUT/steps.txt says
# what ran, how long it took and its exit status.
#   tests/bench/gpu_deps.sh                     (here, once: packs json/png/zlib/ICU/pkg-config)
#   tests/bench/gpu_bench.sh OUT [DEADLINE] [TINY_DIR] [full|final]   (on the GPU machine; carry .gpu-deps)
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(realpath -m "${1:-$root/build-gpu-bench}")
deadline=${2:-540}
tiny=${3:-}
plan=${4:-full}  # full, or final: the headline figures only (a short last visit)
mkdir -p "$out"
start=$(date +%s)
steps="$out/steps.txt"
: > "$steps"; : > "$out/bench.log"; : > "$out/gpu_bench.jsonl"
left() { echo $((deadline - ($(date +%s) - start))); }
# step NAME LIMIT CMD...: runs CMD (a program, not a shell function) with its output appended to
# OUT/bench.log and its JSON lines to OUT/gpu_bench.jsonl, unless too little time is left.
step() {
  local name=$1 limit=$2; shift 2
  if [ "$(left)" -lt 15 ]; then echo "$name skipped: deadline" | tee -a "$steps"; return 1; fi
  [ "$limit" -gt "$(left)" ] && limit=$(left)
  local t0=$(date +%s%N) so
  so=$(mktemp)
  echo "== $name: $*" >> "$out/bench.log"
  timeout -k 5 "$limit" "$@" > "$so" 2>> "$out/bench.log"
  local rc=$?
  cat "$so" >> "$out/bench.log"
  grep '^{' "$so" >> "$out/gpu_bench.jsonl"
  rm -f "$so"
  echo "$name rc=$rc $(( ($(date +%s%N) - t0) / 1000000 )) ms" | tee -a "$steps"
  return $rc
}
export PATH="$PATH:/usr/local/cuda/bin"
[ -d /usr/local/cuda ] && export CUDA_PATH=${CUDA_PATH:-/usr/local/cuda}
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cxx11abi", torch.compiled_with_cxx11_abi(), torch.cuda.get_device_name(0))'
  g++ --version | head -1; nvcc --version | tail -1; meson --version; ninja --version; nproc
  command -v pkg-config || echo "no pkg-config"
} >> "$steps" 2>&1

# 1. CUDA's randn, before anything that can fail.
step cuda-randn-dump 60 python3 "$root/tests/bench/cuda_randn_dump.py" "$out/cuda_randn.json"

# 2. Build.
torch_dir=$(python3 -c 'import torch, os; print(os.path.dirname(torch.__file__))')
abi=$(python3 -c 'import torch; print(int(torch.compiled_with_cxx11_abi()))')
std=c++20  # newer LibTorch headers may require it; the engine builds as C++17 and C++20
native=()
if [ -d "$root/.gpu-deps" ]; then
  export LD_LIBRARY_PATH="$root/.gpu-deps/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  printf "[binaries]\npkg-config = '%s'\n" "$root/.gpu-deps/bin/pkg-config" > "$out/native.ini"
  native=(--native-file "$out/native.ini")
fi
# CUDA library headers that LibTorch's CUDA headers include, from the pip wheels, where the toolkit lacks them.
extra=""
for inc in "$(dirname "$torch_dir")"/nvidia/*/include; do [ -d "$inc" ] && extra="$extra -idirafter $inc"; done
export CXXFLAGS="$extra"
bdir=${GD_BUILD_DIR:-/tmp/gimp-diffusion-gpu-build}  # outside OUT: only a few files come back
if [ ! -f "$bdir/build.ninja" ]; then
  step meson-setup 120 meson setup "$bdir" "$root" "${native[@]}" -Dtorch_dir="$torch_dir" -Dtorch_cmake=disabled \
    -Dtorch_cxx11_abi="$abi" -Dcpp_std="$std" -Dcuda=enabled -Dplugin=disabled -Dtests=false -Dbuildtype=release
fi
step build 400 ninja -C "$bdir" -k 0 inference/engine/gimp-diffusion-cli
rc=$?
grep -E "error|FAILED" -A3 "$out/bench.log" | head -300 > "$out/build_errors.txt"
if [ $rc -ne 0 ] && grep -q "cli_bench.cpp.*error" "$out/bench.log"; then
  # First without --profile's Kineto profiler (a LibTorch whose profiler API differs), all else kept.
  step meson-no-profiler 60 meson configure "$bdir" -Dprofiler=false
  step build-no-profiler 300 ninja -C "$bdir" -k 0 inference/engine/gimp-diffusion-cli
  rc=$?
fi
if [ $rc -ne 0 ] && grep -q "^== build" "$out/bench.log"; then
  # Fallback: without the engine's own CUDA code (kernels, graphs), LibTorch alone on the device.
  step meson-fallback 60 meson configure "$bdir" -Dtorch_cuda_api=false -Dcuda=disabled -Dprofiler=false
  step build-fallback 300 ninja -C "$bdir" -k 0 inference/engine/gimp-diffusion-cli
  rc=$?
fi
[ $rc -eq 0 ] || { echo "build failed"; exit 1; }
cli="$bdir/inference/engine/gimp-diffusion-cli"
bench=("$cli" bench --device cuda)

# 3. Correctness first: a wrong kernel makes every figure after it meaningless.
for dtype in float32 float16 bfloat16; do step "kernels-$dtype" 60 "${bench[@]}" --what kernels --dtype "$dtype"; done
step nv-noise 60 "${bench[@]}" --what nv-noise
step nv-noise-reference 30 "$cli" bench --what nv-noise --reference "$out/cuda_randn.json"

# 4. A real (tiny) model on CPU and CUDA.
if [ -n "$tiny" ] && [ -f "$tiny/tiny-sd2-v.safetensors" ]; then
  t=$(mktemp -d)
  gen=("$cli" txt2img --model "$tiny/tiny-sd2-v.safetensors" --vocab "$tiny/bpe_simple_vocab_16e6.txt.gz" --prediction v
       --prompt "a red house by a lake" --negative-prompt "blurry" --steps 12 --sampler "Euler a" --cfg-scale 7
       --seed 1234 --width 256 --height 256 --rng nv --quiet)
  step tiny-cpu 60 "${gen[@]}" --device cpu --save-latents "$t/tiny_cpu.safetensors" -o "$t/tiny_cpu.png"
  step tiny-cuda-f32 60 "${gen[@]}" --device cuda --save-latents "$t/tiny_cuda32.safetensors" -o "$t/tiny_cuda32.png"
  step tiny-cuda-f16 60 "${gen[@]}" --device cuda --precision float16 --save-latents "$t/tiny_cuda16.safetensors" -o "$t/tiny_cuda16.png"
  step tiny-compare 60 python3 "$root/tests/bench/compare_latents.py" "$t/tiny_cpu.safetensors" \
    "$t/tiny_cuda32.safetensors" "$t/tiny_cuda16.safetensors"
  # Hires. fix on the device (256 -> 384): latent mode against the CPU, and an image upscaler in float16.
  hr=(--enable-hr 1 --hr-scale 1.5 --denoising-strength 0.5 --hr-second-pass-steps 6)
  step tiny-hires-cpu 90 "${gen[@]}" "${hr[@]}" --device cpu --save-latents "$t/hires_cpu.safetensors" -o "$t/hires_cpu.png"
  step tiny-hires-cuda 90 "${gen[@]}" "${hr[@]}" --device cuda --save-latents "$t/hires_cuda32.safetensors" -o "$t/hires_cuda32.png"
  step tiny-hires-cuda-lanczos 90 "${gen[@]}" "${hr[@]}" --device cuda --precision float16 --hr-upscaler Lanczos -o "$t/hires_lanczos16.png"
  step tiny-hires-compare 60 python3 "$root/tests/bench/compare_latents.py" "$t/hires_cpu.safetensors" "$t/hires_cuda32.safetensors"
  # FP8 weight on the device (the weights rounded through host memory and put back): against the CPU's run.
  step tiny-fp8-cpu 60 "${gen[@]}" --fp8-weight Enable --device cpu --save-latents "$t/fp8_cpu.safetensors" -o "$t/fp8_cpu.png"
  step tiny-fp8-cuda 60 "${gen[@]}" --fp8-weight Enable --device cuda --save-latents "$t/fp8_cuda32.safetensors" -o "$t/fp8_cuda32.png"
  step tiny-fp8-compare 60 python3 "$root/tests/bench/compare_latents.py" "$t/fp8_cpu.safetensors" "$t/fp8_cuda32.safetensors"
fi

# 5. Timings, each figure with its baseline in the same run (the float32 eager step for the ratios).
u=("${bench[@]}" --what unet --arch sd21 --size 768 --channels-last 1)
step unet-bf16 90 "${u[@]}" --dtype bfloat16 --cuda-graphs 1 --repeat 20
step unet-f16 90 "${u[@]}" --dtype float16 --cuda-graphs 1 --repeat 20
step image-bf16 120 "${bench[@]}" --what image --arch sd21 --size 768 --steps 30 --dtype bfloat16 --repeat 3
step image-f16 120 "${bench[@]}" --what image --arch sd21 --size 768 --steps 30 --dtype float16 --repeat 3
step unet-f32 90 "${u[@]}" --dtype float32 --repeat 5
step vae-f16 60 "${bench[@]}" --what vae --arch sd21 --size 768 --dtype float16 --channels-last 1 --compare-float32 1 --repeat 5
step unet-bf16-sdpa-flash 90 env GIMP_DIFFUSION_SDPA=flash "${u[@]}" --dtype bfloat16 --cuda-graphs 1 --repeat 20
# Where the bfloat16 step's time goes, kernel by kernel (eager: the same kernels a graph replays).
trace=/tmp/gimp-diffusion-unet-bf16-trace.json
step unet-bf16-profile 90 "${u[@]}" --dtype bfloat16 --repeat 3 --profile "$trace" &&
  step unet-bf16-kernels 60 bash -c "python3 '$root/tests/bench/trace_summary.py' '$trace' --top 40 > '$out/unet_bf16_kernels.txt'"
rm -f "$trace"
# What each step adds on the host besides the network (the device waits for it): CFG assembly,
# NaN check, sampler arithmetic, noise; a few seconds.
step sampler-overhead 30 "$cli" bench --what sampler-overhead --arch sd21 --size 768 --repeat 5
[ "$plan" = final ] && { echo "reports: $out/gpu_bench.jsonl"; exit 0; }
step unet-tf32 90 "${u[@]}" --dtype float32 --tf32 1 --repeat 10
step groupnorm-f16 60 "${bench[@]}" --what groupnorm --size 768 --dtype float16 --repeat 20
# 6. Levers one at a time, against the defaults above: cuDNN's algorithm search, the attention
#    kernel, the fused GroupNorm/GEGLU kernels.
step unet-bf16-cudnn-benchmark 90 "${u[@]}" --dtype bfloat16 --cudnn-benchmark 1 --repeat 20
for b in cudnn efficient; do
  step "unet-bf16-sdpa-$b" 90 env GIMP_DIFFUSION_SDPA=$b "${u[@]}" --dtype bfloat16 --repeat 20
done
step image-bf16-no-graphs 120 env GIMP_DIFFUSION_CUDA_GRAPHS=0 "${bench[@]}" --what image --arch sd21 --size 768 --steps 30 --dtype bfloat16 --repeat 3
step unet-bf16-unfused 90 "${u[@]}" --dtype bfloat16 --compare-unfused 1 --repeat 10
echo "reports: $out/gpu_bench.jsonl"
