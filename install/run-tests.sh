#!/usr/bin/env bash
# The whole test suite: GoogleTest suites (unit, oracle-*, gimp, dialogs) and bounded fuzzing runs.
#   install/run-tests.sh [--build-dir DIR] [--fuzz-seconds N]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build_dir="$root/build"
fuzz_seconds=${FUZZ_SECONDS:-60}
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build_dir=$2; shift ;;
    --fuzz-seconds) fuzz_seconds=$2; shift ;;
    *) echo "run-tests.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
# Model hashes the tests compute are cached inside the build folder, not in the user's ~/.cache.
export GIMP_DIFFUSION_CACHE=${GIMP_DIFFUSION_CACHE:-$build_dir/test-cache}
export GIMP_DIFFUSION_ORACLE=${GIMP_DIFFUSION_ORACLE:-$(cd "$root/.." && pwd)/shared/oracle}

[ -f "$build_dir/build.ninja" ] || meson setup "$build_dir" "$root"
ninja -C "$build_dir"
status=0
meson test -C "$build_dir" --print-errorlogs --num-processes 2 || status=1

if [ "$fuzz_seconds" -gt 0 ] && command -v clang++ >/dev/null; then
  "$here/run-fuzzers.sh" "$fuzz_seconds" || status=1
fi
exit $status
