#!/usr/bin/env bash
# One command for a fresh Debian 12 machine: install every dependency, build, and install the
# GIMP 2.10 plug-in for the current user.
#   install/setup.sh [--no-apt] [--build-dir DIR] [--vocab FILE] [-- extra meson options]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build_dir="$root/build"
do_apt=1
vocab_args=()
meson_extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-apt) do_apt=0 ;;
    --build-dir) build_dir=$2; shift ;;
    --vocab) vocab_args=(--vocab "$2"); shift ;;
    --) shift; meson_extra=("$@"); break ;;
    *) echo "setup.sh: unknown option $1 (try --no-apt, --build-dir DIR, --vocab FILE, -- MESON_OPTIONS)" >&2; exit 2 ;;
  esac
  shift
done

if [ "$do_apt" = 1 ]; then
  sudo_cmd=()
  [ "$(id -u)" = 0 ] || sudo_cmd=(sudo)
  mapfile -t pkgs < <(grep -v '^#' "$here/packages.txt" | sed '/^$/d')
  missing=()
  for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${#missing[@]} Debian packages"
    "${sudo_cmd[@]}" apt-get update -q
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
fi

# Debian's LibTorch falls back to reference BLAS (17x slower) unless OpenBLAS provides libblas.so.3.
if ! readlink -f /etc/alternatives/libblas.so.3-x86_64-linux-gnu 2>/dev/null | grep -q openblas; then
  echo "setup: warning: libblas.so.3 is not OpenBLAS; install libopenblas0-pthread for full speed" >&2
fi

# The learned upscalers (UpscalerJS ESRGAN models, MIT) come from npm; only their model files are
# used (the engine reads the TF.js graphs itself), so peer dependencies are skipped.
upscalers="${GIMP_DIFFUSION_UPSCALERS:-${XDG_DATA_HOME:-$HOME/.local/share}/gimp-diffusion/upscalers}"
if [ ! -f "$upscalers/node_modules/@upscalerjs/esrgan-thick/models/x4/model.json" ]; then
  if command -v npm >/dev/null; then
    echo "setup: installing the UpscalerJS upscaler models with npm into $upscalers"
    mkdir -p "$upscalers"
    npm install --prefix "$upscalers" --no-audit --no-fund --legacy-peer-deps --silent \
      @upscalerjs/esrgan-thick@1.0.0 @upscalerjs/esrgan-medium@1.0.0 @upscalerjs/esrgan-slim@1.0.0 @upscalerjs/default-model@1.0.0
  else
    echo "setup: warning: npm is missing, so the learned upscalers are not installed (apt install npm, then rerun)" >&2
  fi
fi

# The CUDA toolkit's usual place: nvcc then builds the CUDA kernels (the engine itself needs a CUDA
# LibTorch to run them; -Dcuda=disabled skips them).
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH="$PATH:/usr/local/cuda/bin"
fi

if [ ! -f "$build_dir/build.ninja" ]; then
  meson setup "$build_dir" "$root" "${meson_extra[@]}"
elif [ ${#meson_extra[@]} -gt 0 ]; then
  meson configure "$build_dir" "${meson_extra[@]}"
fi
ninja -C "$build_dir"

if [ -x "$build_dir/plugin/gimp-diffusion" ]; then
  "$here/install-plugin.sh" "$build_dir" "${vocab_args[@]}"
else
  echo "setup: the GIMP plug-in was not built (libgimp2.0-dev or GTK 3 missing); the engine CLI is at $build_dir/inference/engine/gimp-diffusion-cli"
fi
