#!/usr/bin/env bash
# Copies the built plug-in into the user's GIMP 2.10 plug-ins folder
# ($GIMP2_DIRECTORY, else $XDG_CONFIG_HOME/GIMP/2.10, else ~/.config/GIMP/2.10).
set -euo pipefail
build_dir=${1:-build}
profile=${GIMP2_DIRECTORY:-${XDG_CONFIG_HOME:-$HOME/.config}/GIMP/2.10}
dest="$profile/plug-ins/gimp-diffusion"
mkdir -p "$dest"
install -m755 "$build_dir/plugin/gimp-diffusion" "$dest/gimp-diffusion"
echo "installed the plug-in to $dest (restart GIMP to see Filters > Diffusion)"
