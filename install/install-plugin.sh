#!/usr/bin/env bash
# Installs the built plug-in and its engine program into the user's GIMP 2.10 plug-ins folder
# ($GIMP2_DIRECTORY, else $XDG_CONFIG_HOME/GIMP/2.10, else ~/.config/GIMP/2.10), and the CLIP
# vocabulary (when given) where the engine looks for it.
#   install/install-plugin.sh [BUILD_DIR] [--vocab FILE]
set -euo pipefail
build_dir=build
vocab=""
while [ $# -gt 0 ]; do
  case "$1" in
    --vocab) vocab=$2; shift ;;
    *) build_dir=$1 ;;
  esac
  shift
done
profile=${GIMP2_DIRECTORY:-${XDG_CONFIG_HOME:-$HOME/.config}/GIMP/2.10}
# GIMP skips its first-run set-up when the profile folder already exists, so let GIMP create it.
if [ ! -d "$profile" ] && command -v gimp-console-2.10 >/dev/null; then
  env -u DISPLAY timeout 120 gimp-console-2.10 -i -d -f -b '(gimp-quit 0)' >/dev/null 2>&1 || true
fi
dest="$profile/plug-ins/gimp-diffusion"
mkdir -p "$dest"
install -m755 "$build_dir/plugin/gimp-diffusion" "$dest/gimp-diffusion"
install -m755 "$build_dir/inference/engine/gimp-diffusion-cli" "$dest/gimp-diffusion-cli"
data="${XDG_DATA_HOME:-$HOME/.local/share}/gimp-diffusion"
mkdir -p "$data/models"
if [ -n "$vocab" ]; then
  install -m644 "$vocab" "$data/bpe_simple_vocab_16e6.txt.gz"
fi
echo "installed the plug-in to $dest (start GIMP: Filters > Diffusion)"
echo "put Stable Diffusion checkpoints in $data/models"
[ -f "$data/bpe_simple_vocab_16e6.txt.gz" ] || echo "put the CLIP vocabulary bpe_simple_vocab_16e6.txt.gz in $data (or pass --vocab FILE)"
