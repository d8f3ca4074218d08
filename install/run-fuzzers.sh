#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (parsers only, no LibTorch) and runs each for a bounded
# time, starting from the committed seeds plus the oracle's checkpoints when present.
#   install/run-fuzzers.sh [SECONDS_PER_TARGET]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
seconds=${1:-60}
fuzz_build="$root/build-fuzz"
[ -f "$fuzz_build/build.ninja" ] || CXX=clang++ meson setup "$fuzz_build" "$root" \
  -Dtorch=disabled -Dcuda=disabled -Dplugin=disabled -Dtests=false -Dfuzz=true -Dbuildtype=debugoptimized >/dev/null
ninja -C "$fuzz_build" >/dev/null
oracle=${GIMP_DIFFUSION_ORACLE:-$(cd "$root/.." && pwd)/shared/oracle}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
run() {
  local target=$1; shift
  mkdir -p "$work/$target"
  echo "fuzz: $target for ${seconds}s"
  if ! "$fuzz_build/tests/fuzz/$target" -max_total_time="$seconds" -max_len="${max_len:-65536}" -rss_limit_mb=2048 \
        -timeout=10 -artifact_prefix="$work/" "$work/$target" "$@" >"$work/$target.log" 2>&1; then
    echo "fuzz: $target FAILED"; tail -40 "$work/$target.log"; cp "$work"/crash-* "$root/" 2>/dev/null || true
    status=1
  else
    grep -E '^(#[0-9]+ *DONE|Done)' "$work/$target.log" | tail -1
  fi
}
st_seeds=("$root/tests/fuzz/corpus/safetensors")
pk_seeds=("$root/tests/fuzz/corpus/pickle")
if [ -d "$oracle/nets" ]; then
  small=$(mktemp -d -p "$work")
  # Only the small files make good seeds; the fuzzers cut inputs to 64 KiB anyway.
  find "$oracle/nets" -name '*.safetensors' -size -200k -exec cp {} "$small/" \; 2>/dev/null || true
  st_seeds+=("$small")
fi
mc_seeds=("$root/tests/fuzz/corpus/model_config")
if [ -d "$oracle/nets" ]; then
  # fuzz_model_config's input: the oracle models' key lists ("key dim ...") with their sidecars.
  mc=$(mktemp -d -p "$work")
  for tsv in "$oracle"/nets/*/*.keys.tsv; do
    [ -f "$tsv" ] || continue
    stem=${tsv%.keys.tsv}; seed="$mc/$(basename "$stem")"
    awk -F'\t' '{ gsub(/[][,]/, " ", $3); print $1, $3 }' "$tsv" > "$seed"
    [ -f "$stem.yaml" ] && { echo "%yaml"; cat "$stem.yaml"; } >> "$seed"
    [ -f "$stem.json" ] && { echo "%json"; cat "$stem.json"; } >> "$seed"
  done
  mc_seeds+=("$mc")
fi
run fuzz_safetensors "${st_seeds[@]}"
run fuzz_unpickler "${pk_seeds[@]}"
run fuzz_prompt "$root/tests/fuzz/corpus/prompt"
max_len=131072 run fuzz_model_config "${mc_seeds[@]}"
run fuzz_exif_comment "$root/tests/fuzz/corpus/exif"
[ $status = 0 ] && echo "fuzz: 5 passed, 0 failed" || echo "fuzz: FAILED"
exit $status
