#!/usr/bin/env bash
# Create benches/.venv with the Python peer engines for benches/peers.py (pinned in
# benches/requirements.txt): numpy, onnxruntime, openvino, ai-edge-litert, and for the int8 peers
# onnx (onnxruntime.quantization) and nncf (OpenVINO's quantizer).
#
#   bash benches/setup.sh            # create (or update) benches/.venv
#   PYTHON=python3.12 bash benches/setup.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python="${PYTHON:-python3}"
venv="$here/.venv"

if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip==26.3
"$venv/bin/python" -m pip install --quiet -r "$here/requirements.txt"
"$venv/bin/python" - <<'PY'
import numpy, onnx, onnxruntime, openvino
from ai_edge_litert import interpreter  # noqa: F401
from onnxruntime.quantization import quantize_static  # noqa: F401
import nncf  # noqa: F401
from importlib.metadata import version
print("benches/.venv ready:", ", ".join(
    f"{p} {version(p)}" for p in ("numpy", "onnxruntime", "onnx", "openvino", "nncf", "ai-edge-litert")))
PY
