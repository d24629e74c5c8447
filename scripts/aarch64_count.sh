#!/usr/bin/env bash
# What one forward pass executes on aarch64, counted under qemu-aarch64 by a TCG plugin
# (scripts/qemu_insn_count.c): all instructions, and the 4-lane f32 FMLA/FMUL/FADD among them,
# for NEON and for the portable path, on v2 1.0-224 and 0.35-96, one thread, release build.
# Counts, not times: speed cannot be measured under emulation. Each figure is (3 forwards - 1
# forward) / 2 of `ab_worker`, so loading and start-up cancel out.
# Needs what scripts/aarch64.sh installs, and gcc for the plugin.
set -euo pipefail
cd "$(dirname "$0")/.."

export RUSTC=/usr/bin/rustc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
cargo build -q --release --target aarch64-unknown-linux-gnu -p mobilenet-benches --bin ab_worker
bin=${CARGO_TARGET_DIR:-target}/aarch64-unknown-linux-gnu/release/ab_worker
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
gcc -shared -fPIC -O2 -o "$work/insn_count.so" scripts/qemu_insn_count.c

# count ISA MODEL N: the plugin's line after N forwards.
count() {
  printf 'run %s %s\nquit\n' "$2" "$3" \
    | MOBILENET_ISA=$1 qemu-aarch64 -L / -plugin "$work/insn_count.so" -d plugin "$bin" 2>&1 >/dev/null \
    | grep '^insn_count:'
}

macs() {
  (unset RUSTC; cargo run -q -p mobilenet-compiler -- summary "$1") | sed -n 's/^Total MACs: //p' | tr -d ,
}

printf '%-6s %-9s %14s %12s %12s %12s %10s %12s\n' model isa instructions fmla.4s fmul.4s fadd.4s insn/MAC "MAC/fmla.4s"
for model in tiny:models/v2_0.35_96_c10.yaml v2:models/v2.yaml; do
  name=${model%%:*}
  m=$(macs "${model#*:}")
  for isa in neon portable; do
    one=$(count "$isa" "$name" 1)
    three=$(count "$isa" "$name" 3)
    python3 - "$name" "$isa" "$m" "$one" "$three" <<'PY'
import sys
name, isa, macs, one, three = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].split(), sys.argv[5].split()
f = lambda words: [int(words[i]) for i in (2, 4, 6, 8)]
d = [(b - a) / 2 for a, b in zip(f(one), f(three))]
per_fmla = f"{macs / d[1]:.2f}" if d[1] else "-"
print(f"{name:<6} {isa:<9} {d[0]:14,.0f} {d[1]:12,.0f} {d[2]:12,.0f} {d[3]:12,.0f} {d[0] / macs:10.3f} {per_fmla:>12}")
PY
  done
done
