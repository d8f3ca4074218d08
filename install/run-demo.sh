#!/usr/bin/env bash
# The main job, headless, out of the box: a real photo is upscaled x2 with the learned ESRGAN model
# and an object under a selection is removed, saved with its layers. With a checkpoint in the models
# folder it also runs the A1111 workflow: a batch of 4, a variation at 0.05, inpainting, img2img.
#   install/run-demo.sh [PHOTO] [OUT_DIR]
# Without PHOTO it uses scikit-image's astronaut photo (NASA, public domain) from the Debian
# package python3-skimage, downloaded (not installed) with apt-get.
set -euo pipefail
photo=${1:-}
out=$(realpath -m "${2:-demo-out}")
mkdir -p "$out"
if [ -z "$photo" ]; then
  cache="${XDG_CACHE_HOME:-$HOME/.cache}/gimp-diffusion"
  photo="$cache/astronaut.png"
  if [ ! -f "$photo" ]; then
    tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
    (cd "$tmp" && apt-get download python3-skimage >/dev/null && dpkg-deb -x python3-skimage_*.deb x)
    mkdir -p "$cache"
    cp "$(find "$tmp/x" -path '*skimage/data/astronaut.png' | head -1)" "$photo"
  fi
fi
photo=$(realpath "$photo")
models="${XDG_DATA_HOME:-$HOME/.local/share}/gimp-diffusion/models"
have_model=0
ls "$models"/*.safetensors "$models"/*.ckpt >/dev/null 2>&1 && have_model=1

scm=$(cat <<SCM
(let* ((img (car (gimp-file-load RUN-NONINTERACTIVE "$photo" "$photo")))
       (photo (car (gimp-image-get-active-layer img)))
       (w (car (gimp-image-width img))) (h (car (gimp-image-height img))))
  (gimp-item-set-name photo "photo")
  ; 1. Upscale x2 with the learned default (ESRGAN thick) into this image.
  (let* ((up (cadr (plug-in-diffusion-upscale RUN-NONINTERACTIVE img photo "ESRGAN thick" 2.0 0 0))))
    ; 2. Remove an object: the selection is an ellipse in the lower right quarter.
    (gimp-image-select-ellipse img CHANNEL-OP-REPLACE (* w 1.2) (* h 1.2) (* w 0.4) (* h 0.3))
    (plug-in-diffusion-remove-object RUN-NONINTERACTIVE img up "PatchMatch")
    (gimp-selection-none img)
    (if (= $have_model 1)
      (begin
        ; 3. With a checkpoint: the A1111 workflow on top.
        (plug-in-diffusion-txt2img RUN-NONINTERACTIVE img up "an steam engine leaving the trainstation, fall, sunset, painting, fine-art, detailed"
          "blurry" 30 "Euler a" "Automatic" 7.0 3331645590 768 768 4 1 -1 0.0 "")
        (plug-in-diffusion-txt2img RUN-NONINTERACTIVE img up "an steam engine leaving the trainstation, fall, sunset, painting, fine-art, detailed"
          "blurry" 30 "Euler a" "Automatic" 7.0 3331645590 768 768 1 1 2387469322 0.05 "")
        (gimp-image-set-active-layer img up)
        (gimp-image-select-ellipse img CHANNEL-OP-REPLACE (* w 0.2) (* h 1.4) (* w 0.8) (* h 0.4))
        (plug-in-diffusion-inpaint RUN-NONINTERACTIVE img up "ballast, pebbles" "" 30 "Euler a" "Automatic" 7.0 -1 0.75 4 1 0 32 1 "")
        (gimp-selection-none img)
        (plug-in-diffusion-img2img RUN-NONINTERACTIVE img up "painting, fine-art, detailed" "" 30 "Euler a" "Automatic" 7.0 -1 0.3 3 ""))))
  (gimp-xcf-save RUN-NONINTERACTIVE img photo "$out/demo.xcf" "$out/demo.xcf")
  (let* ((dup (car (gimp-image-duplicate img))) (flat (car (gimp-image-merge-visible-layers dup CLIP-TO-IMAGE))))
    (file-png-save2 RUN-NONINTERACTIVE dup flat "$out/demo.png" "$out/demo.png" 0 9 0 0 0 0 0 0 0)
    (gimp-image-delete dup))
  (gimp-message (string-append "DEMO: " (number->string (car (gimp-image-get-layers img))) " layers saved"))
  (gimp-image-delete img))
SCM
)
env -u DISPLAY gimp-console-2.10 -i -d -f -b "$scm" -b '(gimp-quit 0)' >"$out/gimp.log" 2>&1 || true
if grep -q 'DEMO: ' "$out/gimp.log" && [ -f "$out/demo.xcf" ]; then
  grep -o 'DEMO: .*' "$out/gimp.log"
  echo "wrote $out/demo.xcf and $out/demo.png"
  [ $have_model = 1 ] || echo "(no checkpoint in $models: put one there to run the Stable Diffusion part too)"
else
  cat "$out/gimp.log"; echo "demo failed (log above)"; exit 1
fi
