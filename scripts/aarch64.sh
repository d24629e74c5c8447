#!/usr/bin/env bash
# The test suite on aarch64 (`cargo test --workspace --target aarch64-unknown-linux-gnu`) under
# user-mode emulation: built by Debian's rustc (which ships the arm64 standard library), linked by
# the cross gcc, each test binary run by qemu-aarch64. The kernels pick NEON there, as on an ARM
# machine. Extra arguments go to `cargo test`. It builds in target/aarch64-debian-rustc, its own
# directory, so that it can run while a host cargo holds target/ (as .ci/run does).
# Installs the Debian packages it needs (rustc-web, libstd-rust-web-dev:arm64,
# gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, qemu-user) when they are missing;
# MOBILENET_INSTALL_ONLY=1 stops there.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
[ -x /usr/bin/rustc ] || missing+=(rustc-web)
dpkg -s libstd-rust-web-dev:arm64 >/dev/null 2>&1 || missing+=(libstd-rust-web-dev:arm64)
command -v aarch64-linux-gnu-gcc >/dev/null || missing+=(gcc-aarch64-linux-gnu)
# The cross gcc only recommends its C library (the startup files every link needs), and
# recommends are not installed below.
[ -e /usr/aarch64-linux-gnu/lib/crti.o ] || missing+=(libc6-dev-arm64-cross)
command -v qemu-aarch64 >/dev/null || missing+=(qemu-user)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo dpkg --add-architecture arm64
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[ -z "${MOBILENET_INSTALL_ONLY:-}" ] || exit 0

export CARGO_TARGET_DIR="$PWD/target/aarch64-debian-rustc"
export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
# `-L /`, not the cross tree (/usr/aarch64-linux-gnu): libstd-rust-web-dev:arm64 brings the arm64
# glibc to /lib/aarch64-linux-gnu, where the cross tree's dynamic loader also finds its libc.so.6
# (qemu falls back to host paths), and that loader with another build's libc hangs in the first
# pthread_create. One glibc, the multiarch one, runs everything.
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /"
# Tests that time the hardware (the FMA probe) skip their speed checks under emulation.
export MOBILENET_EMULATED=1

cargo test --workspace --target aarch64-unknown-linux-gnu "$@"
