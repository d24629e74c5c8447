#!/usr/bin/env bash
# Release build time and code size of the quickstart crate (which compiles models/v2.yaml), or
# with `int8` of the `int8_ab` binary (whose crate compiles benches/specs/v2_int8.yaml; its f32
# models are in the benches library, which touching the binary does not rebuild): a worktree
# of BASE against one of HEAD, fresh target directories, alternating, ROUNDS rounds. Each
# round: a clean build (dependencies included), a rebuild after touching the crate, a rebuild
# after touching the YAML, then the binary's .text and .rodata sizes.
#
#   bash benches/build_ab.sh BASE [ROUNDS] [int8]   # e.g. bash benches/build_ab.sh 205cd10 2
set -euo pipefail
base="${1:?usage: build_ab.sh BASE [ROUNDS] [int8]}"
rounds="${2:-2}"
if [ "${3:-}" = int8 ]; then
  build=(-p mobilenet-benches --features bench --bin int8_ab)
  crate=benches/src/bin/int8_ab.rs yaml=benches/specs/v2_int8.yaml bin=int8_ab
else
  build=(-p quickstart)
  crate=quickstart/src/main.rs yaml=models/v2.yaml bin=quickstart
fi
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'git -C "$repo" worktree remove --force "$work/base" >/dev/null 2>&1 || true;
      git -C "$repo" worktree remove --force "$work/head" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git -C "$repo" worktree add -q --detach "$work/base" "$base"
git -C "$repo" worktree add -q --detach "$work/head" HEAD

timed() {
  local start end
  start=$(date +%s.%N)
  cargo build --release "${build[@]}" -q
  end=$(date +%s.%N)
  echo "$end - $start" | bc
}

for round in $(seq "$rounds"); do
  for side in base head; do
    cd "$work/$side"
    rm -rf target
    clean=$(timed)
    touch "$crate"
    crate_s=$(timed)
    touch "$yaml"
    yaml_s=$(timed)
    sizes=$(size -A "target/release/$bin" | awk '$1 == ".text" || $1 == ".rodata" { printf "%s %s ", $1, $2 }')
    echo "round $round $side: clean ${clean} s, crate touched ${crate_s} s, yaml touched ${yaml_s} s; ${sizes}"
  done
done
