#!/usr/bin/env bash
# A new user's session with the real GIMP GUI under Xvfb, through our GTK 3 dialogs as they open
# from the Filters > Diffusion entries: Text to Image, then with an ellipse selected Inpaint
# Selection, Image to Image, Remove Object, Upscale, SD Upscale and X/Y Plot. In each dialog the user presses Ctrl+Enter
# (Generate / OK) and, for the generation dialogs that stay open, Escape. The layers must be in the
# saved XCF and the upscaled image must exist. Screenshots of the screen go to OUT_DIR.
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
# What the user typed last time: the dialogs open with it.
cat > "$GIMP2_DIRECTORY/gimp-diffusion.json" <<JSON
{"request": {"prompt": "a lighthouse at dusk", "steps": 4, "width": 64, "height": 64, "seed": 7, "denoising_strength": 0.3}, "model": "$model", "vocab": ""}
JSON
scm="(gimp-message-set-handler CONSOLE)
(let* ((img (car (gimp-image-new 256 256 RGB)))
            (l (car (gimp-layer-new img 256 256 RGB-IMAGE \"base\" 100 LAYER-MODE-NORMAL))))
  (gimp-image-insert-layer img l 0 0) (gimp-display-new img)
  (gimp-context-set-foreground '(90 120 160)) (gimp-drawable-fill l FILL-FOREGROUND)
  (plug-in-diffusion-txt2img RUN-INTERACTIVE img l \"\" \"\" 0 \"\" \"\" 0 0 0 0 0 0 0 0 \"\")
  (gimp-image-select-ellipse img CHANNEL-OP-REPLACE 64 64 128 96)
  (gimp-message \"STEP inpaint\")
  (plug-in-diffusion-inpaint RUN-INTERACTIVE img l \"\" \"\" 0 \"\" \"\" 0 0 0 0 0 0 0 0 \"\")
  (gimp-message \"STEP img2img\")
  (plug-in-diffusion-img2img RUN-INTERACTIVE img l \"\" \"\" 0 \"\" \"\" 0 0 0 0 \"\")
  (gimp-message \"STEP remove\")
  (plug-in-diffusion-remove-object RUN-INTERACTIVE img l \"\")
  (gimp-selection-none img)
  (gimp-message \"STEP upscale\")
  (plug-in-diffusion-upscale RUN-INTERACTIVE img l \"\" 0 0 0)
  (gimp-message \"STEP sd-upscale\")
  (plug-in-diffusion-sd-upscale RUN-INTERACTIVE img l \"\" \"\" 0 \"\" \"\" 0 0 0 \"\" 0 0 0 \"\")
  (gimp-message \"STEP xy-plot\")
  (plug-in-diffusion-xy-plot RUN-INTERACTIVE img l \"\" \"\" 0 \"\" \"\" 0 0 0 0 \"\" \"\" \"\" \"\" \"\" \"\" 0)
  (gimp-xcf-save RUN-NONINTERACTIVE img l \"$out/gui.xcf\" \"$out/gui.xcf\")
  (gimp-message (string-append \"GUI-LAYERS: \" (number->string (car (gimp-image-get-layers img)))
                               \" IMAGES: \" (number->string (car (gimp-image-list)))))
  (gimp-quit 1))"
xvfb-run -a -s "-screen 0 1400x1000x24" bash -c '
  disp=$DISPLAY
  out=$1
  gimp-2.10 -d -f -b "$0" > "$out/gimp.log" 2>&1 &
  gimp_pid=$!
  shot() { /usr/bin/python3 -c "from PIL import ImageGrab; ImageGrab.grab(xdisplay=\"$disp\").save(\"$out/$1\")"; }
  wait_window() {  # title, seconds; then the pointer goes onto it (no window manager: focus follows it)
    for i in $(seq 1 $2); do
      w=$(xdotool search --onlyvisible --name "$1" 2>/dev/null | head -1)
      [ -n "$w" ] && { sleep 1; xdotool mousemove --window "$w" 40 40; xdotool windowfocus "$w" 2>/dev/null; return 0; }
      sleep 1
    done
    return 1
  }
  added=0
  n=1
  # The generation dialogs: Generate with Ctrl+Enter, wait for the layers, close with Escape.
  for title in "Text to Image" "Inpaint Selection" "Image to Image"; do
    wait_window "Diffusion — $title" 180 || { echo "no dialog: $title"; kill $gimp_pid; exit 1; }
    sleep 2; shot "$n-$title.png"; n=$((n+1))
    xdotool key --window "$w" ctrl+Return; xdotool keyup ctrl+Return
    added=$((added+1))
    for i in $(seq 1 180); do [ "$(grep -c "layer(s) added from the dialog" "$out/gimp.log")" -ge $added ] && break; sleep 1; done
    sleep 1; shot "$n-$title-done.png"; n=$((n+1))
    # Release the key at once: the dialog is gone before xdotool lifts it, and a key left down would
    # auto-repeat into the next dialog.
    xdotool key --window "$w" Escape; xdotool keyup Escape
    for i in $(seq 1 30); do xdotool search --onlyvisible --name "Diffusion — $title" >/dev/null 2>&1 || break; sleep 1; done
    sleep 3; shot "$n-$title-closed.png"; n=$((n+1))
  done
  # The tool dialogs: OK with Ctrl+Enter; the operation runs and the dialog is gone.
  for title in "Remove Object" "Upscale" "SD Upscale" "X/Y Plot"; do
    wait_window "Diffusion — $title" 180 || { echo "no dialog: $title"; kill $gimp_pid; exit 1; }
    file=$(echo "$title" | tr "/" "-")  # "X/Y Plot" names a file, not a folder
    sleep 2; shot "$n-$file.png"; n=$((n+1))
    xdotool key --window "$w" ctrl+Return; xdotool keyup ctrl+Return
    for i in $(seq 1 30); do xdotool search --onlyvisible --name "Diffusion — $title" >/dev/null 2>&1 || break; sleep 1; done
    shot "$n-$file-done.png"; n=$((n+1))
  done
  for i in $(seq 1 300); do kill -0 $gimp_pid 2>/dev/null || break; sleep 1; done
  kill $gimp_pid 2>/dev/null
  exit 0' "$scm" "$out"
rc=$?
rm -rf "$run_dir"
grep -v '^$' "$out/gimp.log" | tail -8
[ $rc -eq 0 ] || { echo "FAIL: a dialog did not appear"; exit 1; }
line=$(grep -o 'GUI-LAYERS: [0-9]* IMAGES: [0-9]*' "$out/gimp.log" | tail -1)
layers=$(echo "$line" | awk '{print $2}'); images=$(echo "$line" | awk '{print $4}')
# base + text to image + inpaint + image to image + removal = at least 5 layers; Upscale, SD Upscale and the
# X/Y plot each opened an image of their own.
[ -n "$layers" ] && [ "$layers" -ge 5 ] || { echo "FAIL: expected at least 5 layers, got '$line'"; exit 1; }
[ -n "$images" ] && [ "$images" -ge 4 ] || { echo "FAIL: expected the upscaled, SD-upscaled and plot images ('$line')"; exit 1; }
[ -f "$out/gui.xcf" ] || { echo "FAIL: no XCF"; exit 1; }
# The tool dialogs' values are remembered for the next run (and GIMP restarts).
/usr/bin/python3 - "$out/profile/gimp-diffusion.json" <<'PY' || { echo "FAIL: the tool dialogs' values were not remembered"; exit 1; }
import json, sys
tools = json.load(open(sys.argv[1])).get("tools", {})
assert tools.get("plug-in-diffusion-upscale", {}).get("upscaler") == "ESRGAN thick", tools
assert tools.get("plug-in-diffusion-xy-plot", {}).get("x_type") == "CFG Scale", tools
assert tools.get("plug-in-diffusion-remove-object", {}).get("method") == "Auto", tools
PY
echo PASS
