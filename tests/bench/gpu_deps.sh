#!/usr/bin/env bash
# Packs what the engine's build needs besides LibTorch and CUDA (nlohmann-json, libpng, zlib, ICU and
# pkg-config itself), from this Debian machine, into DIR (default .gpu-deps): a GPU machine with no
# package manager and no internet builds against it. Run here, then carry DIR to the GPU machine;
# gpu_bench.sh uses it when it is there. Its libraries need glibc >= 2.36 (Debian 12's). Never
# committed (.gitignore): it holds copies of system libraries and the oracle's tiny model.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
d=$(realpath -m "${1:-$root/.gpu-deps}")
rm -rf "$d"; mkdir -p "$d/include" "$d/lib/pkgconfig" "$d/bin"
multi=/usr/lib/x86_64-linux-gnu
cp -r /usr/include/nlohmann "$d/include/"
cp -r /usr/include/unicode "$d/include/"
cp /usr/include/libpng16/png.h /usr/include/libpng16/pngconf.h /usr/include/libpng16/pnglibconf.h /usr/include/zlib.h /usr/include/zconf.h "$d/include/"
# Real files only (a link may not travel): the runtime (SONAME) name, and the development name as a
# linker script naming it.
for pair in libpng16.so.16:libpng16.so libicuuc.so.72:libicuuc.so libicudata.so.72:libicudata.so libz.so.1:libz.so; do
  so=${pair%%:*}; dev=${pair##*:}
  cp -L "$multi/$so" "$d/lib/$so"; echo "INPUT($so)" > "$d/lib/$dev"  # a linker script: no second copy
done
cp -L "$multi/libpkgconf.so.3" "$d/lib/"
cp -L /usr/bin/pkgconf "$d/bin/pkgconf"
# pkg-config for meson's native file: the carried pkgconf with its library, seeing only these packages.
cat > "$d/bin/pkg-config" <<'WRAP'
#!/bin/sh
here=$(cd "$(dirname "$0")/.." && pwd)
LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" PKG_CONFIG_LIBDIR="$here/lib/pkgconfig" exec "$here/bin/pkgconf" "$@"
WRAP
chmod +x "$d/bin/pkg-config"
pc() {  # name version cflags libs
  printf 'prefix=${pcfiledir}/../..\nincludedir=${prefix}/include\nlibdir=${prefix}/lib\n\nName: %s\nDescription: carried for a GPU build\nVersion: %s\nCflags: %s\nLibs: %s\n' \
    "$1" "$2" "$3" "$4" > "$d/lib/pkgconfig/$1.pc"
}
pc nlohmann_json "$(pkg-config --modversion nlohmann_json)" '-I${includedir}' ''
pc libpng "$(pkg-config --modversion libpng)" '-I${includedir}' '-L${libdir} -lpng16'
pc zlib "$(pkg-config --modversion zlib)" '-I${includedir}' '-L${libdir} -lz'
pc icu-uc "$(pkg-config --modversion icu-uc)" '-I${includedir}' '-L${libdir} -licuuc -licudata'
# The tiny SD 2.x v-model and the vocabulary, for gpu_bench.sh's CPU-vs-CUDA check (TINY_DIR = DIR/tiny).
oracle=${GIMP_DIFFUSION_ORACLE:-$root/../shared/oracle}
vocab=${GIMP_DIFFUSION_VOCAB:-$root/../shared/vocab/bpe_simple_vocab_16e6.txt.gz}
if [ -f "$oracle/nets/tiny-sd2-v/tiny-sd2-v.safetensors" ] && [ -f "$vocab" ]; then
  mkdir -p "$d/tiny"
  cp "$oracle/nets/tiny-sd2-v/tiny-sd2-v.safetensors" "$oracle/nets/tiny-sd2-v/tiny-sd2-v.yaml" "$vocab" "$d/tiny/"
fi
du -sh "$d"
