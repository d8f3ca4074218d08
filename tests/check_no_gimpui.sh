#!/bin/sh
# GIMP 2.10's libgimpui is GTK 2; our dialogs are GTK 3. Fails if anything in the build links it.
ninja_file=$1
if grep -n 'gimpui' "$ninja_file" >/dev/null; then
  echo "the build links gimpui (GTK 2): $(grep -o '[^ ]*gimpui[^ ]*' "$ninja_file" | sort -u | head -3)"
  echo "1 passed, 1 failed" | sed 's/1 passed, /0 passed, /'
  exit 1
fi
echo "no gimpui in the build"
