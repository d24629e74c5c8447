#!/usr/bin/env bash
# Build the Cortex-M4 firmware (firmware/cortex-m4: v2 0.35-96, no_std, no allocator) with
# Debian's Rust toolchain and run it under qemu-system-arm (mps2-an386, semihosting). The
# firmware compares its logits with torchvision's and exits non-zero on a mismatch.
# Prints flash (text + rodata), the arena, the stack's high-water mark and the instructions one
# forward pass executes (qemu -icount shift=0: 1 ns of virtual time per instruction).
# Installs the Debian packages it needs (rustc-web, rust-web-src, gcc-arm-none-eabi,
# qemu-system-arm) when they are missing; MOBILENET_INSTALL_ONLY=1 stops there.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
[ -x /usr/bin/rustc ] && [ -x /usr/bin/cargo ] || missing+=(rustc-web cargo-web)
[ -d /usr/lib/rustlib/src/rust/library/core ] || missing+=(rust-web-src)
command -v arm-none-eabi-gcc >/dev/null || missing+=(gcc-arm-none-eabi)
command -v qemu-system-arm >/dev/null || missing+=(qemu-system-arm)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[ -z "${MOBILENET_INSTALL_ONLY:-}" ] || exit 0

cd firmware/cortex-m4
# Debian's rustc has no prebuilt thumbv7em standard library: build `core` from rust-web-src.
RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 /usr/bin/cargo build --release --locked
elf=target/thumbv7em-none-eabihf/release/mobilenet-cortex-m4
arm-none-eabi-size -A "$elf" | grep -E '^(section|\.text|\.rodata|\.data|\.bss)'
set +e
out=$(timeout 600 qemu-system-arm -cpu cortex-m4 -machine mps2-an386 -nographic \
  -semihosting-config enable=on,target=native -icount shift=0 -kernel "$elf")
rc=$?
set -e
echo "$out"
if [ $rc -ne 0 ] || ! grep -qx PASS <<<"$out"; then
  echo "cortex-m4 firmware failed (exit $rc)" >&2
  exit 1
fi
