#!/usr/bin/env bash
# A new user's first run, with the real GIMP GUI under Xvfb: open Filters > Diffusion > Text to
# Image on an image, press Ctrl+Enter in our GTK 3 dialog, close it with Escape; the result layer
# must be in the saved XCF. Screenshots of the screen go to OUT_DIR.
#   gui_walkthrough.sh BUILD_DIR ORACLE_DIR OUT_DIR
set -u
build=$(realpath "$1"); oracle=$(realpath "${GIMP_DIFFUSION_ORACLE:-$2}"); out=$(realpath -m "$3")
vocab=${GIMP_DIFFUSION_VOCAB:-$oracle/../vocab/bpe_simple_vocab_16e6.txt.gz}
model=$(find "$oracle/nets" -mindepth 2 -maxdepth 2 \( -name '*.safetensors' -o -name '*.ckpt' \) ! -name 'ref_*' | sort | head -1)
rm -rf "$out"; mkdir -p "$out/plug-ins/gimp-diffusion"
cp "$build/plugin/gimp-diffusion" "$out/plug-ins/gimp-diffusion/"
ln -s "$build/inference/engine/gimp-diffusion-cli" "$out/plug-ins/gimp-diffusion/gimp-diffusion-cli"
run_dir=$(mktemp -d /tmp/gd-gui-XXXXXX)
export GIMP2_DIRECTORY="$out/profile" GIMP_DIFFUSION_VOCAB="$vocab" XDG_RUNTIME_DIR="$run_dir"
unset GIMP_DIFFUSION_CLI GIMP_DIFFUSION_MODEL
timeout 120 env -u DISPLAY gimp-console-2.10 -i -d -f -b '(gimp-quit 0)' >/dev/null 2>&1
printf '(plug-in-path "${gimp_dir}/plug-ins:${gimp_plug_in_dir}/plug-ins:%s")\n' "$out/plug-ins" > "$GIMP2_DIRECTORY/gimprc"
# What the user typed last time: the dialog opens with it.
cat > "$GIMP2_DIRECTORY/gimp-diffusion.json" <<JSON
{"request": {"prompt": "a lighthouse at dusk", "steps": 4, "width": 64, "height": 64, "seed": 7}, "model": "$model", "vocab": ""}
JSON
scm="(gimp-message-set-handler CONSOLE)
(let* ((img (car (gimp-image-new 256 256 RGB)))
            (l (car (gimp-layer-new img 256 256 RGB-IMAGE \"base\" 100 LAYER-MODE-NORMAL))))
  (gimp-image-insert-layer img l 0 0) (gimp-display-new img)
  (plug-in-diffusion-txt2img RUN-INTERACTIVE img l \"\" \"\" 0 \"\" \"\" 0 0 0 0 0 0 0 0 \"\")
  (gimp-xcf-save RUN-NONINTERACTIVE img l \"$out/gui.xcf\" \"$out/gui.xcf\")
  (gimp-message (string-append \"GUI-LAYERS: \" (number->string (car (gimp-image-get-layers img)))))
  (gimp-quit 1))"
shot() { DISPLAY=$disp /usr/bin/python3 -c "from PIL import ImageGrab; ImageGrab.grab(xdisplay='$disp').save('$out/$1')"; }
xvfb-run -a -s "-screen 0 1400x1000x24" bash -c '
  disp=$DISPLAY
  gimp-2.10 -d -f -b "$0" > "$1/gimp.log" 2>&1 &
  gimp_pid=$!
  for i in $(seq 1 120); do w=$(xdotool search --name "Diffusion — Text to Image" 2>/dev/null | head -1); [ -n "$w" ] && break; sleep 1; done
  [ -z "$w" ] && { echo "no dialog"; kill $gimp_pid; exit 1; }
  sleep 2
  /usr/bin/python3 -c "from PIL import ImageGrab; ImageGrab.grab(xdisplay=\"$disp\").save(\"$1/1-dialog.png\")"
  xdotool key --window "$w" ctrl+Return
  for i in $(seq 1 180); do grep -q "layer(s) added from the dialog" "$1/gimp.log" && break; sleep 1; done
  sleep 1
  /usr/bin/python3 -c "from PIL import ImageGrab; ImageGrab.grab(xdisplay=\"$disp\").save(\"$1/2-generated.png\")"
  xdotool key --window "$w" Escape
  for i in $(seq 1 60); do kill -0 $gimp_pid 2>/dev/null || break; sleep 1; done
  kill $gimp_pid 2>/dev/null
  exit 0' "$scm" "$out"
rc=$?
rm -rf "$run_dir"
cat "$out/gimp.log" | grep -v '^$' | tail -5
[ $rc -eq 0 ] || { echo "FAIL: the dialog did not appear"; exit 1; }
grep -q 'GUI-LAYERS: 2' "$out/gimp.log" || { echo "FAIL: the generated layer is not in the image"; exit 1; }
[ -f "$out/gui.xcf" ] || { echo "FAIL: no XCF"; exit 1; }
echo PASS
