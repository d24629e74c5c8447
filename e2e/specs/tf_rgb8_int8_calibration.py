#!/usr/bin/env python3
"""Write tf_rgb8_int8_calibration.safetensors: 8 images [8, 30, 36, 3] f32 in [-1, 1] from a
64-bit LCG (seed 12345), the calibration set of tf_rgb8_int8.yaml. Python's standard library only.
Run from this folder: `python3 tf_rgb8_int8_calibration.py`."""
import json
import struct

n, h, w = 8, 30, 36
s = 12345
vals = []
for _ in range(n * h * w * 3):
    s = (s * 6364136223846793005 + 1442695040888963407) % (1 << 64)
    vals.append(((s >> 40) / float(1 << 24)) * 2.0 - 1.0)
data = struct.pack("<%df" % len(vals), *vals)
header = json.dumps({"images": {"dtype": "F32", "shape": [n, h, w, 3], "data_offsets": [0, len(data)]}}).encode()
header += b" " * ((8 - len(header) % 8) % 8)
with open("tf_rgb8_int8_calibration.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(header)) + header + data)
