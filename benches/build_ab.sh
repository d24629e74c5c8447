#!/usr/bin/env bash
# Release build time and code size of the quickstart crate (which compiles models/v2.yaml):
# a worktree of BASE against one of HEAD, fresh target directories, alternating, ROUNDS rounds.
# Each round: a clean build (dependencies included), a rebuild after touching the crate, a
# rebuild after touching the YAML, then the binary's .text and .rodata sizes.
#
#   bash benches/build_ab.sh BASE [ROUNDS]      # e.g. bash benches/build_ab.sh 205cd10 2
set -euo pipefail
base="${1:?usage: build_ab.sh BASE [ROUNDS]}"
rounds="${2:-2}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'git -C "$repo" worktree remove --force "$work/base" >/dev/null 2>&1 || true;
      git -C "$repo" worktree remove --force "$work/head" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git -C "$repo" worktree add -q --detach "$work/base" "$base"
git -C "$repo" worktree add -q --detach "$work/head" HEAD

timed() {
  local start end
  start=$(date +%s.%N)
  cargo build --release -p quickstart -q
  end=$(date +%s.%N)
  echo "$end - $start" | bc
}

for round in $(seq "$rounds"); do
  for side in base head; do
    cd "$work/$side"
    rm -rf target
    clean=$(timed)
    touch quickstart/src/main.rs
    crate=$(timed)
    touch models/v2.yaml
    yaml=$(timed)
    sizes=$(size -A target/release/quickstart | awk '$1 == ".text" || $1 == ".rodata" { printf "%s %s ", $1, $2 }')
    echo "round $round $side: clean ${clean} s, crate touched ${crate} s, yaml touched ${yaml} s; ${sizes}"
  done
done
