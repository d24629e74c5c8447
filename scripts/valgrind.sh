#!/usr/bin/env bash
# Run the golden tests (both reference models, every kernel path valgrind can run: it hides
# AVX-512, so AVX2+FMA and portable) under valgrind memcheck; fail on any error.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v valgrind >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends valgrind >/dev/null
fi
[ -z "${MOBILENET_INSTALL_ONLY:-}" ] || exit 0

# `--workspace`, as `cargo test --workspace` built it: with `-p mobilenet-e2e` cargo would
# unify features over that package alone and rebuild the binary with other dependency features.
bin=$(cargo test -q --workspace --no-run --message-format=json 2>/dev/null \
  | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "e2e" and m.get("executable"):
        print(m["executable"])')
echo "valgrind memcheck: $bin"
# The 1.0-224 model once: loading its weights at run time instead of baking them runs the same
# kernel instances (a minute more under valgrind).
valgrind --error-exitcode=1 --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite --track-origins=yes -q \
  "$bin" --test-threads=2 golden:: --skip v2_1_0_224_from_safetensors
