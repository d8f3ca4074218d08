#!/usr/bin/env bash
# Drives GIMP 2.10 headless (gimp-console, isolated profile, Script-Fu) through the plug-in's
# workflow on a tiny checkpoint, then checks what GIMP printed and saved.
#   workflow_test.sh BUILD_DIR ORACLE_DIR OUT_DIR
# GIMP exits 0 even when a procedure fails, so the verdict comes from the log and the files.
set -u
build=$(realpath "$1"); oracle=$(realpath "${GIMP_DIFFUSION_ORACLE:-$2}"); out=$(realpath -m "$3")
vocab=${GIMP_DIFFUSION_VOCAB:-$oracle/../vocab/bpe_simple_vocab_16e6.txt.gz}
# The first tiny checkpoint of the oracle (any data set of the same layout works).
model=$(find "$oracle/nets" -mindepth 2 -maxdepth 2 \( -name '*.safetensors' -o -name '*.ckpt' \) ! -name 'ref_*' | sort | head -1)
[ -n "$model" ] && [ -f "$vocab" ] || { echo "FAIL: no checkpoint under $oracle/nets or no vocabulary at $vocab"; exit 1; }
rm -rf "$out"; mkdir -p "$out/plug-ins/gimp-diffusion"
cp "$build/plugin/gimp-diffusion" "$out/plug-ins/gimp-diffusion/"
ln -s "$build/inference/engine/gimp-diffusion-cli" "$out/plug-ins/gimp-diffusion/gimp-diffusion-cli"
# A short private folder for the engine's socket (UNIX socket paths are limited to 107 bytes).
run_dir=$(mktemp -d /tmp/gd-gimp-XXXXXX)
trap 'rm -rf "$run_dir"' EXIT
export GIMP2_DIRECTORY="$out/profile" GIMP_DIFFUSION_VOCAB="$vocab" XDG_RUNTIME_DIR="$run_dir"
unset DISPLAY GIMP_DIFFUSION_CLI GIMP_DIFFUSION_MODEL
# The profile must not exist before GIMP's first run, or its user install is skipped.
timeout 120 gimp-console-2.10 -i -d -f -b '(gimp-quit 0)' >/dev/null 2>&1
printf '(plug-in-path "${gimp_dir}/plug-ins:${gimp_plug_in_dir}/plug-ins:%s")\n' "$out/plug-ins" > "$GIMP2_DIRECTORY/gimprc"
# A VAE file in the profile's models folder, for "VAE: <name>" in a pasted text (a full checkpoint
# serves: its first stage is a VAE).
mkdir -p "$GIMP2_DIRECTORY/diffusion-models/VAE"
ln -s "$model" "$GIMP2_DIRECTORY/diffusion-models/VAE/own-vae.ckpt"
# Two checkpoints by name for an X/Y plot over "Checkpoint name" (the oracle's first two).
model2=$(find "$oracle/nets" -mindepth 2 -maxdepth 2 \( -name '*.safetensors' -o -name '*.ckpt' \) ! -name 'ref_*' | sort | sed -n 2p)
ln -s "$model" "$GIMP2_DIRECTORY/diffusion-models/cell-a.ckpt"
ln -s "${model2:-$model}" "$GIMP2_DIRECTORY/diffusion-models/cell-b.ckpt"
# Small GFPGAN, RetinaFace and ParseNet files where Restore Faces looks (the models folder's GFPGAN/).
"$build/tests/make_face_models" "$GIMP2_DIRECTORY/diffusion-models/GFPGAN" || { echo "FAIL: cannot write the face models"; exit 1; }
"$build/tests/make_deepbooru_model" "$GIMP2_DIRECTORY/diffusion-models/DeepDanbooru" || { echo "FAIL: cannot write the DeepBooru tagger"; exit 1; }
# An A1111 styles file in the models folder, for an X/Y plot over "Styles".
printf 'name,prompt,negative_prompt\nFilm,"{prompt}, film grain",digital\n' > "$GIMP2_DIRECTORY/diffusion-models/styles.csv"

scm=$(cat <<SCM
(define (check ok what) (if (not ok) (error (string-append "CHECK FAILED: " what))))
(define (layers img) (vector->list (cadr (gimp-image-get-layers img))))
(define (children grp) (vector->list (cadr (gimp-item-get-children grp))))
(define (parasite item) (caddr (car (gimp-item-get-parasite item "gimp-diffusion-parameters"))))
(define (starts-with s p) (and (>= (string-length s) (string-length p)) (string=? (substring s 0 (string-length p)) p)))
(define (contains s p) (let loop ((i 0)) (cond ((> (+ i (string-length p)) (string-length s)) #f)
                                               ((string=? (substring s i (+ i (string-length p))) p) #t)
                                               (else (loop (+ i 1))))))
(let* ((img (car (gimp-image-new 128 128 RGB)))
       (base (car (gimp-layer-new img 128 128 RGB-IMAGE "base" 100 LAYER-MODE-NORMAL))))
  (gimp-image-insert-layer img base 0 0)
  (plug-in-plasma RUN-NONINTERACTIVE img base 42 2.0)
  (file-png-save2 RUN-NONINTERACTIVE img base "$out/base-before.png" "base-before.png" 0 9 0 0 0 0 0 0 0)
  (file-jpeg-save RUN-NONINTERACTIVE img base "$out/plain.jpg" "plain.jpg" 0.9 0 0 0 "" 0 1 0 0)

  ; 1. Generate a batch of 4 (a layer group), then one image (a plain layer).
  (let* ((grp (car (plug-in-diffusion-txt2img RUN-NONINTERACTIVE img base "a steam engine, fall, sunset" "blurry"
                     4 "Euler a" "Automatic" 7.0 3331645590 64 64 4 1 -1 0.0 "$model")))
         (kids (children grp)))
    (check (= (car (gimp-item-is-group grp)) 1) "batch is a layer group")
    (check (= (length kids) 4) "4 layers in the batch")
    (check (string=? (car (gimp-item-get-name (car kids))) "a steam engine, fall, sunset (3331645590)") "first layer name")
    (check (string=? (car (gimp-item-get-name (cadddr kids))) "a steam engine, fall, sunset (3331645593)") "fourth layer name")
    (check (= (car (gimp-drawable-width (car kids))) 64) "layer width")
    (check (starts-with (parasite (car kids)) "a steam engine, fall, sunset\nNegative prompt: blurry\nSteps: 4, Sampler: Euler a") "parameters parasite")
    (check (contains (parasite (cadr kids)) "Seed: 3331645591,") "second seed in parasite")
    (check (string=? (car (plug-in-diffusion-export-png RUN-NONINTERACTIVE img (car kids) "$out/exported-0.png")) "$out/exported-0.png")
           "layer exported as an A1111 PNG")
    (file-png-save2 RUN-NONINTERACTIVE img (car kids) "$out/txt2img-0.png" "txt2img-0.png" 0 9 0 0 0 0 0 0 0))

  ; 2. A variation of the same seed at strength 0.05.
  (let ((v (car (plug-in-diffusion-txt2img RUN-NONINTERACTIVE img base "a steam engine, fall, sunset" "blurry"
                  4 "Euler a" "Automatic" 7.0 3331645590 64 64 1 1 2387469322 0.05 ""))))
    (check (= (car (gimp-item-is-group v)) 0) "a single image is a plain layer")
    (check (contains (parasite v) "Variation seed: 2387469322, Variation seed strength: 0.05") "variation recorded"))

  ; 3. img2img: three variants at 0.3 inside an ellipse, masked by the selection.
  (gimp-image-set-active-layer img base)
  (gimp-image-select-ellipse img CHANNEL-OP-REPLACE 20 30 80 60)
  (let* ((top (car (plug-in-diffusion-img2img RUN-NONINTERACTIVE img base "ballast, pebbles" "" 4 "Euler a" "Automatic"
                     7.0 7 0.3 3 ""))))
    (check (= (length (layers img)) 6) "3 variants added")
    (check (not (= (car (gimp-layer-get-mask top)) -1)) "variant has a layer mask")
    (check (equal? (gimp-drawable-offsets top) '(20 30)) "variant placed at the selection")
    (check (= (car (gimp-drawable-width top)) 80) "variant covers the selection width")
    (check (contains (parasite top) "Denoising strength: 0.3") "denoising strength recorded"))
  ; 4. Inpaint an ellipse with "ballast, pebbles": whole picture, then only masked.
  (gimp-image-set-active-layer img base)
  (gimp-image-select-ellipse img CHANNEL-OP-REPLACE 30 40 60 40)
  (let* ((whole (car (plug-in-diffusion-inpaint RUN-NONINTERACTIVE img base "ballast, pebbles" "" 4 "Euler a" "Automatic"
                       7.0 9 0.75 4 1 0 32 1 "")))
         (only (begin (gimp-image-set-active-layer img base)
                      (car (plug-in-diffusion-inpaint RUN-NONINTERACTIVE img base "ballast, pebbles" "" 4 "Euler a" "Automatic"
                             7.0 9 0.75 4 1 1 8 1 "")))))
    (check (= (length (layers img)) 8) "2 inpaint layers added")
    (check (not (= (car (gimp-layer-get-mask whole)) -1)) "inpaint layer has a mask")
    (check (= (car (gimp-drawable-width whole)) 128) "whole-picture layer covers the drawable")
    (check (contains (parasite whole) "Mask blur: 4") "mask blur recorded")
    (check (contains (parasite only) "Inpaint area: Only masked") "only masked recorded")
    (check (< (car (gimp-drawable-width only)) 128) "only-masked layer covers the crop region")
    (check (> (car (gimp-drawable-offsets only)) 0) "only-masked layer placed at the crop region"))
  ; 4b. Soft inpainting from a pasted A1111 text, run with the last values: the layer gets the
  ; result's own mask of where it changed.
  (gimp-image-set-active-layer img base)
  (plug-in-diffusion-paste-parameters RUN-NONINTERACTIVE img base "ballast, pebbles\nSteps: 4, Sampler: Euler a, CFG scale: 7, Seed: 9, Size: 128x128, Denoising strength: 0.75, Soft inpainting enabled: True, Soft inpainting schedule bias: 1, Soft inpainting preservation strength: 0.5, Soft inpainting transition contrast boost: 4, Soft inpainting mask influence: 0, Soft inpainting difference threshold: 0.5, Soft inpainting difference contrast: 2, Mask blur: 8")
  (let ((soft (car (plug-in-diffusion-inpaint RUN-WITH-LAST-VALS img base "" "" 1 "" "" 7.0 -1 0.75 4 1 0 32 1 ""))))
    (check (= (length (layers img)) 9) "soft inpaint layer added")
    (check (not (= (car (gimp-layer-get-mask soft)) -1)) "soft inpaint layer has a mask")
    (check (contains (parasite soft) "Soft inpainting enabled: True, Soft inpainting schedule bias: 1, Soft inpainting preservation strength: 0.5") "soft inpainting recorded")
    (check (contains (parasite soft) "Mask blur: 8") "pasted mask blur used"))
  (gimp-selection-none img)
  ; 4c. A pasted refiner ("Refiner: name [hash]") is found among the model folders' checkpoints and
  ; recorded once sampling switched to it.
  (plug-in-diffusion-paste-parameters RUN-NONINTERACTIVE img base "a lighthouse\nSteps: 4, Sampler: Euler, CFG scale: 7, Seed: 5, Size: 64x64, Refiner: cell-a [0123456789], Refiner switch at: 0.5")
  (let ((refined (car (plug-in-diffusion-txt2img RUN-WITH-LAST-VALS img base "" "" 1 "" "" 7.0 -1 64 64 1 1 -1 0.0 ""))))
    (check (= (length (layers img)) 10) "refined layer added")
    (check (contains (parasite refined) "Refiner: cell-a [") "refiner recorded")
    (check (contains (parasite refined) "Refiner switch at: 0.5") "refiner switch recorded"))
  (file-png-save2 RUN-NONINTERACTIVE img base "$out/base-after.png" "base-after.png" 0 9 0 0 0 0 0 0 0)

  ; 5. Remove an object under a selection (classical fill, no model).
  (gimp-image-set-active-layer img base)
  (gimp-image-select-rectangle img CHANNEL-OP-REPLACE 50 50 20 16)
  (let ((rm (car (plug-in-diffusion-remove-object RUN-NONINTERACTIVE img base "PatchMatch"))))
    (check (not (= (car (gimp-layer-get-mask rm)) -1)) "removal layer is masked by the selection")
    (check (string=? (car (gimp-item-get-name rm)) "Object removed (PatchMatch)") "removal layer name"))
  (gimp-selection-none img)

  ; 5b. Restore faces (CodeFormer, then GFPGAN) into a new layer above the active one; the layer itself unchanged.
  (let* ((before (length (layers img)))
         (restored (cadr (plug-in-diffusion-restore-faces RUN-NONINTERACTIVE img base "" 1.0 0.5))))
    (check (= (length (layers img)) (+ before 1)) "restored layer added")
    (check (string=? (car (gimp-item-get-name restored)) "base CodeFormer") "restored layer name")
    (gimp-image-remove-layer img restored))
  (gimp-image-set-active-layer img base)
  (let ((restored (cadr (plug-in-diffusion-restore-faces RUN-NONINTERACTIVE img base "GFPGAN" 0.8 0.5))))
    (check (string=? (car (gimp-item-get-name restored)) "base GFPGAN") "GFPGAN layer name")
    (gimp-image-remove-layer img restored))
  (file-png-save2 RUN-NONINTERACTIVE img base "$out/base-after-faces.png" "base-after-faces.png" 0 9 0 0 0 0 0 0 0)

  ; 5c. Interrogate DeepBooru: the layer's tags as A1111 writes them (a tagger in the profile's
  ; DeepDanbooru folder that scores pebbles 0.9, grey_stone 0.7, sky 0.2); the image unchanged.
  (let ((before (length (layers img))))
    (check (string=? (car (plug-in-diffusion-interrogate-deepbooru RUN-NONINTERACTIVE img base 0.5 1 1 1 0 "")) "grey stone, pebbles") "DeepBooru tags")
    (check (string=? (car (plug-in-diffusion-interrogate-deepbooru RUN-NONINTERACTIVE img base 0.5 0 0 1 1 "pebbles")) "(grey_stone:0.700)")
           "DeepBooru's settings: by score, underscores, ranks, a filter")
    (check (= (length (layers img)) before) "interrogation adds no layer"))

  ; 6. X/Y plot of CFG scale x steps: a new image, one layer per cell.
  (let* ((plot (car (plug-in-diffusion-xy-plot RUN-NONINTERACTIVE img base "a lighthouse" "" 2 "Euler a" "Automatic" 7.0 42
                       64 64 "CFG Scale" "3, 7" "Steps" "2, 3, 4" "" "txt2img" 0.75)))
         (cells (layers plot)))
    (check (= (length cells) 6) "6 plot cells")
    (check (= (car (gimp-image-width plot)) 128) "plot width = 2 cells")
    (check (= (car (gimp-image-height plot)) 192) "plot height = 3 cells")
    (check (string=? (car (gimp-item-get-name (car cells))) "CFG Scale: 7, Steps: 4") "last cell named after its values")
    (check (contains (parasite (car cells)) "Steps: 4, Sampler: Euler a") "cell parameters")
    (gimp-image-delete plot))
  ; A1111's X/Y/Z plot: CFG scale along X, steps along Z (a layer group per grid, side by side with
  ; 4 px margins), seeds varied along X and Z: seed + ix + 2 iz.
  (let* ((plot (car (plug-in-diffusion-xyz-plot RUN-NONINTERACTIVE img base "a lighthouse" "" 2 "Euler a" "Automatic" 7.0 42
                       64 64 "CFG Scale" "3, 7" "Nothing" "" "Steps" "2, 3" "" "txt2img" 0.75 1 0 1 0 4)))
         (grids (layers plot))
         (second (children (cadr grids))))
    (check (= (length grids) 2) "2 Z grids")
    (check (string=? (car (gimp-item-get-name (car grids))) "Steps: 2") "first Z grid on top, named")
    (check (= (car (gimp-image-width plot)) 268) "two grids of two cells with 4 px margins")
    (check (= (car (gimp-image-height plot)) 64) "one row")
    (check (= (length second) 2) "2 cells in the second grid")
    (check (string=? (car (gimp-item-get-name (car second))) "CFG Scale: 7, Steps: 3") "Z cell named after its values")
    (check (= (car (gimp-drawable-offsets (car second))) 204) "the second grid's second cell at 136 + 68")
    (check (contains (parasite (car second)) "Steps: 3, Sampler: Euler a, Schedule type: Automatic, CFG scale: 7.0, Seed: 45,") "seed varied along X and Z")
    (gimp-image-delete plot))
  ; A1111's Prompt S/R against samplers (matched without case).
  (let* ((plot (car (plug-in-diffusion-xy-plot RUN-NONINTERACTIVE img base "a lighthouse" "" 2 "Euler a" "Automatic" 7.0 42
                       64 64 "Prompt S/R" "lighthouse, windmill" "Sampler" "euler a, DPM++ 2M" "" "txt2img" 0.75)))
         (cells (layers plot)))
    (check (= (length cells) 4) "4 S/R cells")
    (check (string=? (car (gimp-item-get-name (car cells))) "Prompt S/R: windmill, Sampler: DPM++ 2M") "S/R cell named after its values")
    (check (starts-with (parasite (car cells)) "a windmill") "S/R cell prompt replaced")
    (check (contains (parasite (car cells)) "Sampler: DPM++ 2M") "S/R cell sampler")
    (gimp-image-delete plot))
  ; A1111's Prompt order against Nothing: one row of the token orders, named without the Nothing axis.
  (let* ((plot (car (plug-in-diffusion-xy-plot RUN-NONINTERACTIVE img base "a lighthouse, at night" "" 2 "Euler a" "Automatic" 7.0 42
                       64 64 "Prompt order" "a lighthouse, at night" "Nothing" "" "" "txt2img" 0.75)))
         (cells (layers plot)))
    (check (= (length cells) 2) "2 prompt order cells")
    (check (= (car (gimp-image-height plot)) 64) "prompt order plot: one row")
    (check (string=? (car (gimp-item-get-name (car cells))) "Prompt order: at night, a lighthouse") "order cell named after its order")
    (check (starts-with (parasite (car cells)) "at night, a lighthouse\n") "order cell prompt reordered")
    (gimp-image-delete plot))
  ; A1111's Styles axis: the models folder's styles.csv merged into the cell's prompts.
  (let* ((plot (car (plug-in-diffusion-xy-plot RUN-NONINTERACTIVE img base "a lighthouse" "" 2 "Euler a" "Automatic" 7.0 42
                       64 64 "Styles" "Film" "Nothing" "" "" "txt2img" 0.75)))
         (cells (layers plot)))
    (check (= (length cells) 1) "1 styles cell")
    (check (string=? (car (gimp-item-get-name (car cells))) "Styles: Film") "styles cell named")
    (check (starts-with (parasite (car cells)) "a lighthouse, film grain\nNegative prompt: digital\n") "styles merged into the cell")
    (gimp-image-delete plot))
  ; A1111's Prompt matrix: every subset of the '|' parts, on A1111's grid (2 x 2 here) with margins.
  (let* ((m (car (plug-in-diffusion-prompt-matrix RUN-NONINTERACTIVE img base "a cat|in a hat|on a bike" "" 2 "Euler a" "Automatic" 7.0 42
                    64 64 "positive" 0 1 "comma" 4 "" "txt2img" 0.75)))
         (cells (layers m)))
    (check (= (length cells) 4) "4 matrix cells")
    (check (= (car (gimp-image-width m)) 132) "matrix width = 2 cells and a margin")
    (check (= (car (gimp-image-height m)) 132) "matrix height = 2 cells and a margin")
    (check (string=? (car (gimp-item-get-name (car cells))) "a cat, in a hat, on a bike") "last cell named after its prompt")
    (check (= (car (gimp-drawable-offsets (car cells))) 68) "last cell in the second column")
    (check (starts-with (parasite (car cells)) "a cat, in a hat, on a bike\nSteps: 2") "cell prompt")
    (check (contains (parasite (car cells)) "Seed: 45,") "Random seeds: seed + 3 for the fourth")
    (check (starts-with (parasite (cadddr cells)) "a cat\nSteps: 2") "first cell: the fixed part alone")
    (gimp-image-delete m))
  ; the negative prompt's parts joined by a space, at its start, one seed for all.
  (let* ((m (car (plug-in-diffusion-prompt-matrix RUN-NONINTERACTIVE img base "a cat" "blurry|dark" 2 "Euler a" "Automatic" 7.0 42
                    64 64 "negative" 1 0 "space" 0 "" "txt2img" 0.75)))
         (cells (layers m)))
    (check (= (length cells) 2) "2 negative matrix cells")
    (check (= (car (gimp-image-height m)) 64) "one row")
    (check (string=? (car (gimp-item-get-name (car cells))) "dark blurry") "negative cell named")
    (check (contains (parasite (car cells)) "Negative prompt: dark blurry\nSteps: 2") "negative parts joined")
    (check (contains (parasite (car cells)) "Seed: 42,") "one seed for all")
    (gimp-image-delete m))
  ; A1111's Prompts from file: one run per line (a prompt, or --options), the images in one group;
  ; Iterate seed every line: the next line starts batch size x count further.
  (let* ((grp (car (plug-in-diffusion-prompts-from-file RUN-NONINTERACTIVE img base "masterpiece" "" 2 "Euler a" "Automatic" 7.0 7
                      64 64 1 1 "a red house\n\n--prompt \"a blue car\" --steps 3 --width 128 --n_iter 2\n" "" 1 0 "start" "" "txt2img" 0.75)))
         (kids (children grp)))
    (check (string=? (car (gimp-item-get-name grp)) "Prompts from file ×2") "prompts group named")
    (check (= (length kids) 3) "3 images from 2 lines")
    (check (string=? (car (gimp-item-get-name (car kids))) "a red house masterpiece (7)") "first line's layer")
    (check (starts-with (parasite (car kids)) "a red house masterpiece\nSteps: 2, Sampler: Euler a") "first line's text")
    (check (contains (parasite (cadr kids)) "Steps: 3,") "second line's steps")
    (check (contains (parasite (cadr kids)) "Seed: 8,") "second line's seed iterated")
    (check (contains (parasite (caddr kids)) "Seed: 9,") "second line's second batch")
    (check (= (car (gimp-drawable-width (cadr kids))) 128) "second line's width")
    (check (starts-with (parasite (cadr kids)) "a blue car masterpiece\n") "second line's prompt at the start"))
  ; The same scripts from A1111's img2img tab: the active layer's selected part redrawn per line,
  ; each image over that part with the selection as its mask; a batch count runs batch after batch;
  ; a line's size resizes the part to it (A1111 resizes its init image), whole at the part's corner.
  (gimp-image-select-rectangle img CHANNEL-OP-REPLACE 16 16 64 48)
  (let* ((grp (car (plug-in-diffusion-prompts-from-file RUN-NONINTERACTIVE img base "" "" 4 "Euler a" "Automatic" 7.0 11
                      64 64 1 1 "pebbles\n--prompt moss --n_iter 2\n--prompt stones --width 96 --height 64" "" 0 0 "start" "" "img2img" 0.3)))
         (kids (children grp))
         (sized (cadddr kids)))
    (check (= (length kids) 4) "img2img: 4 images from 3 lines")
    (check (= (car (gimp-drawable-width sized)) 96) "img2img line's width")
    (check (= (car (gimp-drawable-height sized)) 64) "img2img line's height")
    (check (= (car (gimp-drawable-offsets sized)) 16) "img2img resized image at the part's corner")
    (check (= (car (gimp-layer-get-mask sized)) -1) "img2img resized image unmasked")
    (check (contains (parasite sized) "Size: 96x64") "img2img line's size recorded")
    (check (= (car (gimp-drawable-width (car kids))) 64) "img2img image as wide as the selection")
    (check (= (car (gimp-drawable-height (car kids))) 48) "img2img image as high as the selection")
    (check (= (car (gimp-drawable-offsets (car kids))) 16) "img2img image over the selection")
    (check (not (= (car (gimp-layer-get-mask (car kids))) -1)) "img2img image masked by the selection")
    (check (starts-with (parasite (car kids)) "pebbles\nSteps: 4") "img2img first line")
    (check (contains (parasite (car kids)) "Denoising strength: 0.3") "img2img strength recorded")
    (check (contains (parasite (caddr kids)) "Seed: 12,") "img2img second batch's seed"))
  (let* ((m (car (plug-in-diffusion-prompt-matrix RUN-NONINTERACTIVE img base "pebbles|moss" "" 4 "Euler a" "Automatic" 7.0 42
                    64 64 "positive" 0 0 "comma" 0 "" "img2img" 0.3)))
         (cells (layers m)))
    (check (= (length cells) 2) "img2img matrix cells")
    (check (= (car (gimp-image-width m)) 128) "img2img matrix: two cells as wide as the selection")
    (check (= (car (gimp-image-height m)) 48) "img2img matrix: cells as high as the selection")
    (check (starts-with (parasite (car cells)) "pebbles, moss\nSteps: 4") "img2img matrix prompt")
    (check (contains (parasite (car cells)) "Denoising strength: 0.3") "img2img matrix strength recorded")
    (gimp-image-delete m))
  ; X/Y from A1111's img2img tab: a Denoising axis sweeps the strength of the redraw.
  (let* ((plot (car (plug-in-diffusion-xy-plot RUN-NONINTERACTIVE img base "pebbles" "" 4 "Euler a" "Automatic" 7.0 5
                       64 64 "Denoising" "0.25, 0.5" "Nothing" "" "" "img2img" 0.75)))
         (cells (layers plot)))
    (check (= (length cells) 2) "img2img denoising cells")
    (check (= (car (gimp-image-height plot)) 48) "img2img plot cells as high as the selection")
    (check (string=? (car (gimp-item-get-name (car cells))) "Denoising: 0.5") "denoising cell named")
    (check (contains (parasite (car cells)) "Denoising strength: 0.5") "the axis's second strength")
    (check (contains (parasite (cadr cells)) "Denoising strength: 0.25") "the axis's first strength")
    (gimp-image-delete plot))
  ; A Size axis from the img2img tab: the part redrawn at each size (resized when it is not the
  ; part's own), the cells whole.
  (let* ((plot (car (plug-in-diffusion-xy-plot RUN-NONINTERACTIVE img base "pebbles" "" 4 "Euler a" "Automatic" 7.0 5
                       64 64 "Size" "64x64, 96x64" "Nothing" "" "" "img2img" 0.3)))
         (cells (layers plot)))
    (check (= (length cells) 2) "img2img size cells")
    (check (= (car (gimp-drawable-width (car cells))) 96) "the resized cell's width")
    (check (= (car (gimp-drawable-height (car cells))) 64) "the resized cell's height")
    (check (string=? (car (gimp-item-get-name (car cells))) "Size: 96x64") "size cell named")
    (check (contains (parasite (car cells)) "Size: 96x64") "the cell's size recorded")
    (check (contains (parasite (cadr cells)) "Size: 64x64") "the part's own size")
    (gimp-image-delete plot))
  (gimp-selection-none img)
  ; A1111's Loopback: the layer redrawn three times, each loop from the last one's image, the
  ; strength going linearly from 0.3 to 0.6 and the seed up by one; the third loop equals Image to
  ; Image run on the second loop's layer with the third's seed and strength.
  (let* ((grp (car (plug-in-diffusion-loopback RUN-NONINTERACTIVE img base "pebbles" "" 4 "Euler a" "Automatic" 7.0 21
                      0.3 3 0.6 "Linear" 1 "" "None")))
         (kids (children grp)))
    (check (string=? (car (gimp-item-get-name grp)) "Loopback ×3") "loopback group named")
    (check (= (length kids) 3) "every loop kept")
    (check (= (car (gimp-drawable-width (car kids))) 128) "loopback image as wide as the layer")
    (check (contains (parasite (car kids)) "Seed: 21,") "first loop's seed")
    (check (contains (parasite (car kids)) "Denoising strength: 0.3, Final denoising strength: 0.6, Denoising curve: Linear")
           "first loop's strength and the script's keys")
    (check (contains (parasite (cadr kids)) "Seed: 22,") "second loop's seed")
    (check (contains (parasite (cadr kids)) "Denoising strength: 0.44999999999999996,") "second loop's strength as Python writes it")
    (check (contains (parasite (caddr kids)) "Seed: 23,") "third loop's seed")
    (file-png-save2 RUN-NONINTERACTIVE img (caddr kids) "$out/loopback-3.png" "loopback-3.png" 0 9 0 0 0 0 0 0 0)
    (let ((again (car (plug-in-diffusion-img2img RUN-NONINTERACTIVE img (cadr kids) "pebbles" "" 4 "Euler a" "Automatic"
                        7.0 23 0.6 1 ""))))
      (file-png-save2 RUN-NONINTERACTIVE img again "$out/loopback-again.png" "loopback-again.png" 0 9 0 0 0 0 0 0 0)
      (gimp-image-remove-layer img again))
    (gimp-image-remove-layer img grp))
  (gimp-image-set-active-layer img base)
  ; Loopback appending DeepBooru's tags to the prompt at every loop (A1111's "Append interrogated prompt").
  (let* ((grp (car (plug-in-diffusion-loopback RUN-NONINTERACTIVE img base "pebbles" "" 2 "Euler a" "Automatic" 7.0 21
                      0.3 2 0.6 "Linear" 1 "" "DeepBooru")))
         (kids (children grp)))
    (check (= (length kids) 2) "interrogating loopback keeps every loop")
    (check (contains (parasite (car kids)) "pebbles, grey stone, pebbles\n") "first loop's prompt with the tags")
    (check (contains (parasite (cadr kids)) "pebbles, grey stone, pebbles\n") "second loop's prompt with the tags")
    (gimp-image-remove-layer img grp))
  (gimp-image-set-active-layer img base)

  ; 7. SD upscale x2 (Lanczos first, then img2img over 64 px tiles with 16 px overlap) into a new image.
  (let* ((r (plug-in-diffusion-sd-upscale RUN-NONINTERACTIVE img base "detailed" "" 2 "Euler a" "Automatic" 7.0 5 0.3
              "Lanczos" 2.0 64 16 "")))
    (check (= (car (gimp-image-width (car r))) 256) "SD upscale x2 width")
    (check (contains (parasite (cadr r)) "SD upscale overlap: 16") "SD upscale recorded")
    (gimp-image-delete (car r)))

  ; 7b. Poor man's outpainting: 32 px on the left and the right (192 wide, the height already a
  ; multiple of 64), the border inpainted in 64 px tiles into a new image; the middle is the layer's.
  (let* ((r (plug-in-diffusion-outpaint RUN-NONINTERACTIVE img base "a wide view" "" 2 "Euler a" "Automatic" 7.0 31 0.8
              32 4 "fill" 1 1 0 0 64 64 ""))
         (mid (cadr (gimp-drawable-get-pixel (cadr r) 96 64)))
         (was (cadr (gimp-drawable-get-pixel base 64 64))))
    (check (= (car (gimp-image-width (car r))) 192) "outpainted width")
    (check (= (car (gimp-image-height (car r))) 128) "outpainted height")
    (check (and (= (vector-ref mid 0) (vector-ref was 0)) (= (vector-ref mid 1) (vector-ref was 1)) (= (vector-ref mid 2) (vector-ref was 2)))
           "the layer's middle kept")
    (check (contains (parasite (cadr r)) "Seed: 31, Size: 64x64") "outpainting's first tile recorded")
    ; (the last values still hold the pasted soft inpainting and refiner: A1111's script keeps them too)
    (check (contains (parasite (cadr r)) "Denoising strength: 0.8, Soft inpainting enabled: True") "outpainting's strength recorded")
    (check (contains (parasite (cadr r)) "Mask blur: 8, Masked content: fill, Refiner: cell-a") "outpainting's mask recorded")
    (gimp-image-delete (car r)))

  ; 7c. Outpainting mk2 upwards by 64 (the strip at the top, at most 64 high, redrawn over matched
  ; noise), two results in a new image; the layer's lower part is its own.
  (let* ((r (plug-in-diffusion-outpaint-mk2 RUN-NONINTERACTIVE img base "a sky" "" 2 "Euler a" "Automatic" 7.0 41 0.8
              64 4 0 0 1 0 1.0 0.05 64 64 2 1 ""))
         (kids (layers (car r)))
         (low (cadr (gimp-drawable-get-pixel (cadr r) 64 150)))
         (was (cadr (gimp-drawable-get-pixel base 64 86))))
    (check (= (car (gimp-image-width (car r))) 128) "mk2 width")
    (check (= (car (gimp-image-height (car r))) 192) "mk2 height: 128 + 64")
    (check (= (length kids) 2) "mk2 batch of two")
    (check (and (= (vector-ref low 0) (vector-ref was 0)) (= (vector-ref low 1) (vector-ref was 1)) (= (vector-ref low 2) (vector-ref was 2)))
           "mk2 keeps the layer below the strip")
    (check (contains (parasite (car kids)) "Seed: 41, Size: 128x64") "mk2's first run recorded")
    (check (contains (parasite (car kids)) "Mask blur: 16") "mk2's blur recorded")
    (gimp-image-delete (car r)))

  ; 8. Paste parameters from a layer, then Upscale x2 with Lanczos into this image.
  (plug-in-diffusion-paste-parameters RUN-NONINTERACTIVE img base "an steam engine\nSteps: 30, Sampler: Euler a, CFG scale: 7, Seed: 3331645590, Size: 768x768, Model hash: 4bdfc29c, Batch size: 4, Batch pos: 3")
  (let* ((r (plug-in-diffusion-upscale RUN-NONINTERACTIVE img base "Lanczos" 2.0 0 0)))
    (check (= (car (gimp-image-width img)) 256) "image scaled x2")
    (check (= (car (gimp-drawable-width (cadr r))) 256) "upscaled layer x2"))
  ; and with the learned default into a new image
  (let* ((r (plug-in-diffusion-upscale RUN-NONINTERACTIVE img base "" 2.0 1 0)))
    (check (= (car (gimp-image-width (car r))) 512) "learned x2 into a new image")
    (check (contains (car (gimp-item-get-name (cadr r))) "ESRGAN thick") "learned upscaler named")
    (gimp-image-delete (car r)))
  ; 8b. Extras Upscale as A1111's Extras tab: Lanczos with Nearest at 0.5 by 1.5 (256 -> 384), then
  ; GFPGAN at 0.5 and CodeFormer, the Postprocess text kept; "Scale to" 200x120 cropped to that size.
  (let* ((r (plug-in-diffusion-extras-upscale RUN-NONINTERACTIVE img base "Lanczos" "Nearest" 0.5 "Scale by" 1.5 0 512 512 1 0 0.5 1.0 0.7))
         (info (caddr (car (gimp-item-get-parasite (cadr r) "gimp-diffusion-postprocessing")))))
    (check (= (car (gimp-image-width (car r))) 384) "extras x1.5 width")
    (check (contains info "Postprocess upscale by: 1.5, Postprocess upscaler: Lanczos, Postprocess upscaler 2: Nearest, GFPGAN visibility: 0.5, CodeFormer visibility: 1.0, CodeFormer weight: 0.7") "extras text")
    (gimp-image-delete (car r)))
  (let* ((r (plug-in-diffusion-extras-upscale RUN-NONINTERACTIVE img base "Lanczos" "None" 0.0 "Scale to" 2.0 0 200 120 1 0 0.0 0.0 0.5)))
    (check (= (car (gimp-image-width (car r))) 200) "extras scale-to width")
    (check (= (car (gimp-image-height (car r))) 120) "extras scale-to height")
    (gimp-image-delete (car r)))

  ; 9. A pasted A1111 hires text, then Text to Image with the last values: Hires. fix, 64 -> 128.
  (plug-in-diffusion-paste-parameters RUN-NONINTERACTIVE img base "a red house\nSteps: 2, Sampler: Euler a, CFG scale: 7, Seed: 5, Size: 64x64, Denoising strength: 0.5, Hires upscale: 2, Hires upscaler: Latent")
  (let ((hl (car (plug-in-diffusion-txt2img RUN-WITH-LAST-VALS img base "" "" 1 "" "" 7.0 -1 64 64 1 1 -1 0.0 ""))))
    (check (= (car (gimp-drawable-width hl)) 128) "hires layer is twice the first pass")
    (check (contains (parasite hl) "Size: 64x64") "hires record keeps the first-pass size")
    (check (contains (parasite hl) "Denoising strength: 0.5, Hires upscale: 2, Hires upscaler: Latent") "hires recorded"))
  ; and an X/Y plot over hires steps and upscalers follows it: cells of the hires size.
  (let* ((plot (car (plug-in-diffusion-xy-plot RUN-NONINTERACTIVE img base "a red house" "" 2 "Euler a" "Automatic" 7.0 5
                       64 64 "Hires steps" "1, 2" "Hires upscaler" "Latent, Lanczos" "" "txt2img" 0.75)))
         (cells (layers plot)))
    (check (= (length cells) 4) "4 hires plot cells")
    (check (= (car (gimp-image-width plot)) 256) "hires plot width = 2 cells of 128")
    (check (contains (parasite (car cells)) "Hires steps: 2, Hires upscaler: Lanczos") "hires cell parameters")
    (gimp-image-delete plot))

  (gimp-xcf-save RUN-NONINTERACTIVE img base "$out/workflow.xcf" "workflow.xcf")
  (gimp-image-delete img)
  (gimp-message "WORKFLOW: PASS"))
SCM
)

bad=$(cat <<SCM
(define (check ok what) (if (not ok) (error (string-append "CHECK FAILED: " what))))
(define (layers img) (vector->list (cadr (gimp-image-get-layers img))))
(let* ((img (car (gimp-image-new 64 64 RGB)))
       (l (car (gimp-layer-new img 64 64 RGB-IMAGE "x" 100 LAYER-MODE-NORMAL))))
  (gimp-image-insert-layer img l 0 0)
  (gimp-image-convert-indexed img CONVERT-DITHER-NONE CONVERT-PALETTE-GENERATE 16 FALSE FALSE "")
  (catch (gimp-message "BAD1: rejected")
    (plug-in-diffusion-txt2img RUN-NONINTERACTIVE img l "x" "" 2 "Euler a" "Automatic" 7.0 1 64 64 1 1 -1 0.0 "$model"))
  (check (= (length (layers img)) 1) "indexed image unchanged")
  (gimp-image-convert-rgb img)
  (catch (gimp-message "BAD2: rejected")
    (plug-in-diffusion-txt2img RUN-NONINTERACTIVE img l "x" "" 2 "Euler a" "Automatic" 7.0 1 100 64 1 1 -1 0.0 "$model"))
  (catch (gimp-message "BAD3: rejected")
    (plug-in-diffusion-txt2img RUN-NONINTERACTIVE img l "x" "" 2 "Nope" "Automatic" 7.0 1 64 64 1 1 -1 0.0 "$model"))
  (gimp-layer-set-offsets l 200 200)
  (gimp-image-select-rectangle img CHANNEL-OP-REPLACE 0 0 10 10)
  (catch (gimp-message "BAD4: rejected")
    (plug-in-diffusion-img2img RUN-NONINTERACTIVE img l "x" "" 2 "Euler a" "Automatic" 7.0 1 0.3 1 "$model"))
  (gimp-selection-none img)
  (gimp-layer-set-offsets l 0 0)
  (catch (gimp-message "BAD5: rejected")
    (plug-in-diffusion-inpaint RUN-NONINTERACTIVE img l "x" "" 2 "Euler a" "Automatic" 7.0 1 0.75 4 1 0 32 1 "$model"))
  (catch (gimp-message "BAD6: rejected")
    (plug-in-diffusion-remove-object RUN-NONINTERACTIVE img l "PatchMatch"))
  (catch (gimp-message "BAD14: rejected")
    (plug-in-diffusion-xy-plot RUN-NONINTERACTIVE img l "x" "" 2 "Euler a" "Automatic" 7.0 1 64 64 "Hires steps" "1, 2" "Nothing" "" "$model" "img2img" 0.5))
  (catch (gimp-message "BAD13: rejected")
    (plug-in-diffusion-prompts-from-file RUN-NONINTERACTIVE img l "" "" 2 "Euler a" "Automatic" 7.0 1 64 64 1 1 "a" "" 0 0 "start" "$model" "img3img" 0.75))
  (catch (gimp-message "BAD11: rejected")
    (plug-in-diffusion-prompt-matrix RUN-NONINTERACTIVE img l "a|b" "" 2 "Euler a" "Automatic" 7.0 1 64 64 "positive" 0 0 "tab" 0 "$model" "txt2img" 0.75))
  (catch (gimp-message "BAD15: rejected")
    (plug-in-diffusion-loopback RUN-NONINTERACTIVE img l "x" "" 2 "Euler a" "Automatic" 7.0 1 0.5 2 0.5 "Steep" 1 "$model" "None"))
  (catch (gimp-message "BAD23: rejected")
    (plug-in-diffusion-interrogate-deepbooru RUN-NONINTERACTIVE img l 1.5 1 1 1 0 ""))
  (catch (gimp-message "BAD24: rejected")
    (plug-in-diffusion-export-png RUN-NONINTERACTIVE img l "$out/bad.jpg"))
  (catch (gimp-message "BAD25: rejected")
    (plug-in-diffusion-export-png RUN-NONINTERACTIVE img l "$out/bad.png"))
  (catch (gimp-message "BAD22: rejected")
    (plug-in-diffusion-loopback RUN-NONINTERACTIVE img l "x" "" 2 "Euler a" "Automatic" 7.0 1 0.5 2 0.5 "Linear" 1 "$model" "CLIP"))
  (catch (gimp-message "BAD16: rejected")
    (plug-in-diffusion-outpaint RUN-NONINTERACTIVE img l "x" "" 2 "Euler a" "Automatic" 7.0 1 0.8 32 4 "fill" 0 0 0 0 64 64 "$model"))
  (catch (gimp-message "BAD17: rejected")
    (plug-in-diffusion-outpaint RUN-NONINTERACTIVE img l "x" "" 2 "Euler a" "Automatic" 7.0 1 0.8 32 4 "blank" 1 1 1 1 64 64 "$model"))
  (catch (gimp-message "BAD18: rejected")
    (plug-in-diffusion-outpaint-mk2 RUN-NONINTERACTIVE img l "x" "" 2 "Euler a" "Automatic" 7.0 1 0.8 64 64 0 1 0 0 1.0 0.05 512 512 1 1 "$model"))
  (catch (gimp-message "BAD20: rejected")
    (plug-in-diffusion-restore-faces RUN-NONINTERACTIVE img l "GFPGAN" 0.0 0.5))
  (catch (gimp-message "BAD21: rejected")
    (plug-in-diffusion-restore-faces RUN-NONINTERACTIVE img l "RestoreFormer" 1.0 0.5))
  (catch (gimp-message "BAD19: rejected")
    (plug-in-diffusion-extras-upscale RUN-NONINTERACTIVE img l "Lanczos" "None" 0.0 "Scale up" 2.0 0 512 512 1 0 0.0 0.0 0.5))
  (check (= (length (layers img)) 1) "image unchanged after the bad calls")
  ; A VAE file that is not there is refused; "None" (the checkpoint's own VAE) keeps the loaded model.
  (catch (gimp-message "BAD8: rejected")
    (plug-in-diffusion-load-model RUN-NONINTERACTIVE "$model" "" "/nonexistent/vae.safetensors"))
  (check (> (string-length (car (plug-in-diffusion-load-model RUN-NONINTERACTIVE "$model" "" "None"))) 0) "load with VAE None")
  ; A layer group as the active drawable is refused with a sentence.
  (let ((grp (car (gimp-layer-group-new img))))
    (gimp-image-insert-layer img grp 0 0)
    (catch (gimp-message "BAD7: rejected")
      (plug-in-diffusion-img2img RUN-NONINTERACTIVE img grp "x" "" 2 "Euler a" "Automatic" 7.0 1 0.3 1 "$model")))
  (gimp-image-delete img)
  ; Grayscale images get grayscale layers; a menu run (last values) of Upscale uses the learned default.
  (let* ((g (car (gimp-image-new 64 64 GRAY)))
         (gl (car (gimp-layer-new g 64 64 GRAY-IMAGE "gray" 100 LAYER-MODE-NORMAL))))
    (gimp-image-insert-layer g gl 0 0)
    (let ((out (car (plug-in-diffusion-txt2img RUN-NONINTERACTIVE g gl "x" "" 2 "Euler a" "Automatic" 7.0 1 64 64 1 1 -1 0.0 "$model"))))
      (check (= (car (gimp-drawable-is-gray out)) 1) "gray image gets a gray layer"))
    (let ((up (plug-in-diffusion-upscale RUN-WITH-LAST-VALS g gl "" 0 0 0)))
      (check (= (car (gimp-image-width (car up))) 128) "menu run of Upscale: ESRGAN thick x2 into a new image")
      (gimp-image-delete (car up)))
    ; Pasting "VAE: <name>" chooses that VAE file of the models folders; an unknown one is listed
    ; as ignored. (Last: the next generation would load it.)
    (check (string=? (car (plug-in-diffusion-paste-parameters RUN-NONINTERACTIVE g gl "x\nSteps: 20, Sampler: Euler a, CFG scale: 7, VAE: own-vae.ckpt")) "")
           "pasted VAE found in the models folder")
    (check (string=? (car (plug-in-diffusion-paste-parameters RUN-NONINTERACTIVE g gl "x\nSteps: 20, Sampler: Euler a, CFG scale: 7, VAE: nowhere.safetensors")) "VAE")
           "unknown pasted VAE listed as ignored")
    (gimp-image-delete g))
  (gimp-message "BADINPUT: PASS"))
SCM
)

# Last (it loads other checkpoints): an X/Y plot over checkpoints named by file name.
ckpt=$(cat <<SCM
(define (check ok what) (if (not ok) (error (string-append "CHECK FAILED: " what))))
(define (layers img) (vector->list (cadr (gimp-image-get-layers img))))
(define (parasite item) (caddr (car (gimp-item-get-parasite item "gimp-diffusion-parameters"))))
(define (contains s p) (let loop ((i 0)) (cond ((> (+ i (string-length p)) (string-length s)) #f)
                                               ((string=? (substring s i (+ i (string-length p))) p) #t)
                                               (else (loop (+ i 1))))))
(let* ((img (car (gimp-image-new 64 64 RGB)))
       (l (car (gimp-layer-new img 64 64 RGB-IMAGE "x" 100 LAYER-MODE-NORMAL))))
  (gimp-image-insert-layer img l 0 0)
  (gimp-message "CKPTPLOT: START")
  (plug-in-diffusion-paste-parameters RUN-NONINTERACTIVE img l "x\nSteps: 2, Sampler: Euler a, CFG scale: 7, Seed: 5, Size: 64x64")
  (let* ((plot (car (plug-in-diffusion-xy-plot RUN-NONINTERACTIVE img l "a red house" "" 2 "Euler a" "Automatic" 7.0 5
                       64 64 "Steps" "1, 2" "Checkpoint name" "cell-a, cell-b" "" "txt2img" 0.75)))
         (cells (layers plot)))
    (check (= (length cells) 4) "4 checkpoint cells")
    (check (= (car (gimp-image-height plot)) 128) "checkpoint plot height = 2 cells")
    (check (string=? (car (gimp-item-get-name (car cells))) "Steps: 2, Checkpoint name: cell-b") "checkpoint cell named")
    (check (contains (parasite (car cells)) "Model: cell-b") "cell made by cell-b")
    (check (contains (parasite (cadddr cells)) "Model: cell-a") "cell made by cell-a")
    (gimp-image-delete plot))
  (catch (gimp-message "BAD9: rejected")
    (plug-in-diffusion-xy-plot RUN-NONINTERACTIVE img l "x" "" 2 "Euler a" "Automatic" 7.0 5 64 64 "Steps" "1" "Checkpoint name" "nowhere" "" "txt2img" 0.75))
  ; A1111's VAE axis: the checkpoint's own VAE and a file of the models folders' VAE/ by name.
  (let* ((plot (car (plug-in-diffusion-xy-plot RUN-NONINTERACTIVE img l "a red house" "" 2 "Euler a" "Automatic" 7.0 5
                       64 64 "VAE" "None, own-vae" "Nothing" "" "" "txt2img" 0.75)))
         (cells (layers plot)))
    (check (= (length cells) 2) "2 VAE cells")
    (check (string=? (car (gimp-item-get-name (car cells))) "VAE: own-vae") "VAE cell named")
    (check (contains (parasite (car cells)) "VAE: own-vae.ckpt") "cell decoded by own-vae")
    (check (not (contains (parasite (cadr cells)) "VAE: ")) "cell decoded by the checkpoint's own VAE")
    (gimp-image-delete plot))
  ; --sd_model as A1111's closest match finds it: here a part of one file's name.
  (let* ((grp (car (plug-in-diffusion-prompts-from-file RUN-NONINTERACTIVE img l "" "" 2 "Euler a" "Automatic" 7.0 5
                      64 64 1 1 "--prompt a red house --sd_model ll-b" "" 0 0 "start" "" "txt2img" 0.75))))
    (check (contains (parasite (car (vector->list (cadr (gimp-item-get-children grp))))) "Model: cell-b") "--sd_model by a part of its name"))
  (catch (gimp-message "BAD10: rejected")
    (plug-in-diffusion-xy-plot RUN-NONINTERACTIVE img l "x" "" 2 "Euler a" "Automatic" 7.0 5 64 64 "VAE" "elsewhere" "Nothing" "" "" "txt2img" 0.75))
  ; Checkpoint Merger: cell-a and cell-b at 0.5 beside cell-a, loadable (as .safetensors and as a
  ; torch.save .ckpt); a missing model C refused.
  (let* ((dir "$GIMP2_DIRECTORY/diffusion-models")
         (path (car (plug-in-diffusion-merge-checkpoints RUN-NONINTERACTIVE (string-append dir "/cell-a.ckpt")
                      (string-append dir "/cell-b.ckpt") "" "Weighted sum" 0.5 1 "merged-x" "None" "" "A, B or C" "safetensors")))
         (ckpt (car (plug-in-diffusion-merge-checkpoints RUN-NONINTERACTIVE (string-append dir "/cell-a.ckpt")
                      (string-append dir "/cell-b.ckpt") "" "Weighted sum" 0.5 1 "merged-y" "None" "" "A, B or C" "ckpt"))))
    (check (string=? path (string-append dir "/merged-x.safetensors")) "merged checkpoint beside model A")
    (check (string=? ckpt (string-append dir "/merged-y.ckpt")) "merged .ckpt beside model A")
    (check (> (string-length (car (plug-in-diffusion-load-model RUN-NONINTERACTIVE ckpt "" (string-append dir "/VAE/own-vae.ckpt")))) 0) "merged .ckpt loads")
    (check (> (string-length (car (plug-in-diffusion-load-model RUN-NONINTERACTIVE path "" (string-append dir "/VAE/own-vae.ckpt")))) 0) "merged checkpoint loads"))
  (catch (gimp-message "BAD20: rejected")
    (plug-in-diffusion-merge-checkpoints RUN-NONINTERACTIVE "$GIMP2_DIRECTORY/diffusion-models/cell-a.ckpt"
      "$GIMP2_DIRECTORY/diffusion-models/cell-b.ckpt" "" "Add difference" 0.5 0 "" "None" "" "A, B or C" "safetensors"))
  (gimp-image-delete img)
  (gimp-message "CKPTPLOT: PASS"))
SCM
)

timeout 600 gimp-console-2.10 -i -d -f -b "$scm" -b "$bad" -b "$ckpt" -b '(gimp-quit 0)' >"$out/gimp.log" 2>&1
rc=$?
cat "$out/gimp.log"
fail() { echo "FAIL: $*"; exit 1; }
[ $rc -eq 0 ] || fail "gimp exited $rc (124 = timeout)"
grep -q 'CHECK FAILED' "$out/gimp.log" && fail "an assertion failed"
grep -q 'WORKFLOW: PASS' "$out/gimp.log" || fail "the workflow did not finish"
grep -q 'BADINPUT: PASS' "$out/gimp.log" || fail "the bad-input script did not finish"
grep -q 'CKPTPLOT: PASS' "$out/gimp.log" || fail "the checkpoint plot did not finish"
for m in "Indexed images cannot take generated layers" "multiples of 8" 'Unknown sampler "Nope"' "selection lies outside the active layer" "nothing is selected" "Select the object to remove first" "layer group has no pixels of its own" "The VAE file /nonexistent/vae.safetensors cannot be read" "The checkpoint \"nowhere\" is not among the model folders' files" "The VAE \"elsewhere\" is not among the model folders' VAE files" 'The prompt matrix joins its parts with "comma" or "space", not "tab".' 'A script runs from "txt2img" (new images) or "img2img" (the active layer), not "img3img".' 'The X/Y axis "Hires steps" belongs to Text to Image' 'The denoising curve must be "Aggressive", "Linear" or "Lazy", not "Steep".' 'Choose at least one outpainting direction' 'Unknown masked content "blank"' 'The mask blur (64) is too large for outpainting right' 'The resize mode is "Scale by" or "Scale to", not "Scale up".' 'Add difference needs a tertiary model (C).' 'GFPGAN visibility must be above 0 and at most 1.' 'Unknown face restorer "RestoreFormer"; use CodeFormer or GFPGAN.' 'The DeepBooru score threshold must be between 0 and 1.' 'Loopback cannot append a CLIP interrogation' 'Give a file name ending in .png for the export.' 'The layer carries no A1111 parameters text'; do
  grep -q "$m" "$out/gimp.log" || fail "missing error message: $m"
done
# The model was read once for all the generate calls of the session (up to the checkpoint plot).
loads=$(sed '/CKPTPLOT: START/q' "$out/gimp.log" | grep -o 'engine model loads: [0-9]*' | awk '{print $4}' | sort -u | tr '\n' ' ')
[ "$loads" = "1 " ] || fail "the engine reloaded the model (loads seen: $loads)"
grep -q '"vae": ".*/diffusion-models/VAE/own-vae.ckpt"' "$GIMP2_DIRECTORY/gimp-diffusion.json" || fail "the pasted VAE was not chosen"
"$build/tests/png_compare" "$out/base-before.png" "$out/base-after.png" || fail "the original layer changed"
"$build/tests/png_compare" "$out/base-before.png" "$out/base-after-faces.png" || fail "Restore Faces changed the layer it read"
# Same request through the CLI gives the same pixels as the first batch layer.
"$build/inference/engine/gimp-diffusion-cli" txt2img --quiet --model "$model" --vocab "$vocab" \
  --prompt "a steam engine, fall, sunset" --negative-prompt blurry --steps 4 --sampler "Euler a" --cfg-scale 7 \
  --seed 3331645590 --width 64 --height 64 --batch-size 4 -o "$out/cli.png" >/dev/null || fail "CLI run"
"$build/tests/png_compare" "$out/cli-0.png" "$out/txt2img-0.png" || fail "layer pixels differ from the CLI's"
# Export Layer as A1111 PNG: the layer's pixels, and its text in the "parameters" chunk A1111 reads.
"$build/tests/png_compare" "$out/txt2img-0.png" "$out/exported-0.png" || fail "the exported PNG's pixels differ from the layer's"
[ -e "$out/bad.png" ] && fail "a layer without parameters was exported"
"$build/inference/engine/gimp-diffusion-cli" infotext --image "$out/exported-0.png" | grep -q '"Seed":"3331645590"' || fail "the exported PNG lacks the layer's parameters"
"$build/tests/png_compare" "$out/loopback-3.png" "$out/loopback-again.png" || fail "a loop's image differs from Image to Image on the previous loop's"
# No engine of this test outlives GIMP (it watches GIMP's pid).
for i in $(seq 1 30); do ls "$run_dir"/gimp-diffusion-*.sock >/dev/null 2>&1 || break; sleep 0.5; done
ls "$run_dir"/gimp-diffusion-*.sock >/dev/null 2>&1 && fail "the engine did not exit with GIMP"
# The Image to Image dialog's "Resize to", as its last values repeat it: the layer's selected part
# redrawn at 96 x 64 by Crop and resize, the whole result at the part's corner, unmasked.
python3 - "$GIMP2_DIRECTORY/gimp-diffusion.json" <<'PY' || fail "cannot set the last values"
import json, sys
path = sys.argv[1]
s = json.load(open(path))
s["request"].update({"resize_init_image": True, "resize_mode": 1, "width": 96, "height": 64, "steps": 2, "seed": 3,
                     "denoising_strength": 0.4, "prompt": "gravel", "batch_size": 1})
json.dump(s, open(path, "w"))
PY
resize='
(define (check ok what) (if (not ok) (error (string-append "CHECK FAILED: " what))))
(let* ((img (car (gimp-image-new 80 80 RGB)))
       (l (car (gimp-layer-new img 80 80 RGB-IMAGE "base" 100 LAYER-MODE-NORMAL))))
  (gimp-image-insert-layer img l 0 0)
  (gimp-drawable-fill l FILL-WHITE)
  (gimp-image-select-rectangle img CHANNEL-OP-REPLACE 8 8 64 48)
  (let ((top (car (plug-in-diffusion-img2img RUN-WITH-LAST-VALS img l "" "" 1 "" "" 7.0 -1 0.4 1 ""))))
    (check (= (car (gimp-drawable-width top)) 96) "resized width")
    (check (= (car (gimp-drawable-height top)) 64) "resized height")
    (check (= (car (gimp-drawable-offsets top)) 8) "at the part s corner")
    (check (= (car (gimp-layer-get-mask top)) -1) "unmasked")
    (check (= (car (gimp-drawable-width l)) 80) "the layer unchanged"))
  ; A PNG the CLI saved (A1111'"'"'s "parameters" chunk), opened in GIMP: Paste Parameters with no
  ; text reads the file, as A1111'"'"'s PNG Info does.
  (let* ((png (car (gimp-file-load RUN-NONINTERACTIVE "'"$out"'/cli-0.png" "cli-0.png")))
         (pl (car (gimp-image-get-active-layer png))))
    (plug-in-diffusion-paste-parameters RUN-NONINTERACTIVE png pl "")
    (gimp-image-delete png))
  (gimp-message "RESIZE: PASS"))'
jpeg_paste='
(let* ((jpg (car (gimp-file-load RUN-NONINTERACTIVE "'"$out"'/a1111.jpg" "a1111.jpg")))
       (jl (car (gimp-image-get-active-layer jpg))))
  (plug-in-diffusion-paste-parameters RUN-NONINTERACTIVE jpg jl "")
  (gimp-image-delete jpg)
  (gimp-message "JPEG: PASS"))'
timeout 300 gimp-console-2.10 -i -d -f -b "$resize" -b '(gimp-quit 0)' >"$out/gimp-resize.log" 2>&1
cat "$out/gimp-resize.log"
grep -q 'CHECK FAILED' "$out/gimp-resize.log" && fail "a resize assertion failed"
grep -q 'RESIZE: PASS' "$out/gimp-resize.log" || fail "the resized Image to Image did not finish"
python3 - "$GIMP2_DIRECTORY/gimp-diffusion.json" <<'PY' || fail "the opened PNG's parameters were not pasted"
import json, sys
r = json.load(open(sys.argv[1]))["request"]
assert (r["prompt"], r["negative_prompt"], r["seed"], r["steps"]) == ("a steam engine, fall, sunset", "blurry", 3331645590, 4), r
PY
# A JPEG as A1111 saves it (piexif's EXIF UserComment, "UNICODE" + UTF-16BE, in an APP1 right after
# the start marker), opened in GIMP: Paste Parameters with no text reads it.
python3 - "$out/plain.jpg" "$out/a1111.jpg" <<'PY' || fail "cannot write the A1111 JPEG"
import struct, sys
text = "a rainy street, caf\u00e9\nNegative prompt: sun\nSteps: 9, Sampler: Euler a, CFG scale: 6, Seed: 77, Size: 64x64"
comment = b"UNICODE\0" + text.encode("utf_16_be")
tiff = b"MM\0*" + struct.pack(">I", 8)
tiff += struct.pack(">HHHII", 1, 0x8769, 4, 1, 26) + struct.pack(">I", 0)
tiff += struct.pack(">HHHII", 1, 0x9286, 7, len(comment), 44) + struct.pack(">I", 0) + comment
app1 = b"Exif\0\0" + tiff
jpeg = open(sys.argv[1], "rb").read()
assert jpeg[:2] == b"\xff\xd8"
open(sys.argv[2], "wb").write(jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:])
PY
timeout 300 gimp-console-2.10 -i -d -f -b "$jpeg_paste" -b '(gimp-quit 0)' >"$out/gimp-jpeg.log" 2>&1
grep -q 'JPEG: PASS' "$out/gimp-jpeg.log" || { cat "$out/gimp-jpeg.log"; fail "the A1111 JPEG's parameters were not pasted"; }
python3 - "$GIMP2_DIRECTORY/gimp-diffusion.json" <<'PY' || fail "the opened JPEG's parameters were not pasted"
import json, sys
r = json.load(open(sys.argv[1]))["request"]
assert (r["prompt"], r["negative_prompt"], r["seed"], r["steps"], r["cfg_scale"]) == ("a rainy street, caf\u00e9", "sun", 77, 9, 6), r
PY
for i in $(seq 1 30); do ls "$run_dir"/gimp-diffusion-*.sock >/dev/null 2>&1 || break; sleep 0.5; done
ls "$run_dir"/gimp-diffusion-*.sock >/dev/null 2>&1 && fail "the engine did not exit with GIMP"
echo "PASS"
