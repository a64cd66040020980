#!/bin/bash
# Build (or reuse) the offload lab's guest kernel; prints the bzImage path on stdout.
# Same steps as `offload_drivers::lab::vm::kernel` (the harness uses its own Rust copy of them);
# kept for running the build by hand.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
frag="$here/kernel.config"
cache=${OFFLOAD_LAB_CACHE:-$HOME/.cache/offload-lab}
tarball=${OFFLOAD_LAB_KERNEL_TARBALL:-$(ls /usr/src/linux-source-*.tar.xz 2>/dev/null | sort -V | tail -1)}
[ -f "$tarball" ] || { echo "no linux-source tarball in /usr/src: apt-get install linux-source-6.1" >&2; exit 1; }
# Same key as the Rust harness: the fragment, then the tarball's path, size and mtime.
key=$({ cat "$frag"; printf '\n%s\n%s\n%s\n' "$tarball" "$(stat -c %s "$tarball")" "$(stat -c %Y "$tarball")"; } | sha256sum | cut -c1-12)
out="$cache/kernel-$key"
if [ -f "$out/bzImage" ]; then echo "$out/bzImage"; exit 0; fi
src="$cache/src/$(basename "$tarball" .tar.xz)"
if [ ! -f "$src/Makefile" ]; then
  mkdir -p "$cache/src"
  tar -C "$cache/src" -xf "$tarball"
fi
build="$out/build"
mkdir -p "$build"
make -C "$src" O="$build" tinyconfig >&2
"$src/scripts/kconfig/merge_config.sh" -m -O "$build" "$build/.config" "$frag" >&2
make -C "$src" O="$build" olddefconfig >&2
missing=0
while IFS= read -r line; do
  case "$line" in CONFIG_*=y) grep -qx "$line" "$build/.config" || { echo "kernel config: $line did not stick" >&2; missing=1; };; esac
done < "$frag"
[ "$missing" = 0 ] || exit 1
start=$(date +%s)
nice -n 10 make -C "$src" O="$build" -j"${OFFLOAD_LAB_JOBS:-2}" bzImage >&2
cp "$build/arch/x86/boot/bzImage" "$out/bzImage.tmp" && mv "$out/bzImage.tmp" "$out/bzImage"
echo "kernel built in $(( $(date +%s) - start ))s" >&2
echo "$out/bzImage"
