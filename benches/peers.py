#!/usr/bin/env python3
"""A/B latency of our compiled MobileNetV2 against ONNX Runtime, OpenVINO and LiteRT, in float32
and, for 1.0-224, in int8 (and OpenVINO at its default precision).

    bash benches/setup.sh                                                       # benches/.venv, pinned peers
    cargo build --release -p mobilenet-benches --features bench --bin ab_worker # ours (this script builds nothing)
    benches/.venv/bin/python benches/peers.py                                   # -> stdout and benches/results.md
    benches/.venv/bin/python benches/peers.py --no-int8                         # float32 engines only

`--features bench` puts our int8 model in the worker; without it only `--no-int8` runs.

Engines, batch 1, each on the same input as ours where the weights are the same. float32:

- ours:      target/release/ab_worker (the `mobilenet!`-compiled models), driven over a pipe; its
             latencies are measured inside the worker around `forward`.
- ort:       onnxruntime on ../shared/reference/<case>/model.onnx (ORT_ENABLE_ALL, intra-op T threads,
             inter-op 1, sequential), input bound once with IOBinding.
- openvino:  the same ONNX file on "CPU" (INFERENCE_NUM_THREADS T, PERFORMANCE_HINT LATENCY,
             INFERENCE_PRECISION_HINT f32: otherwise it computes in bf16 on CPUs with AMX/AVX512-BF16).
- litert:    ai_edge_litert on ../shared/peers/mobilenet_v2_1.0_224_keras_random.tflite (XNNPACK,
             num_threads T), 1.0-224 only; same architecture and MACs, other weights (Keras random).

int8 and default precision, 1.0-224 only (skipped with --no-int8):

- ours-int8:        ab_worker's `v2-int8`, the int8 model of benches/specs/v2_int8.yaml (the reference
                    weights, calibrated on reference image 0), in its own worker process, T threads.
- ort-int8:         model.onnx quantized by onnxruntime.quantization.quantize_static (QDQ, per-channel,
                    uint8 activations, int8 weights, MinMax calibration on the two reference inputs
                    `input_nchw` of ../shared/reference/v2_1.0_224/io.safetensors), run like `ort`.
- openvino-default: model.onnx on "CPU" like `openvino` but without INFERENCE_PRECISION_HINT: bf16 on
                    CPUs with AMX/AVX512-BF16, f32 elsewhere (the report says which it resolved to).
- openvino-int8:    model.onnx quantized by NNCF (nncf.quantize, default preset, the same two
                    calibration inputs), run like `openvino-default`; skipped if nncf is not installed.
- litert-int8:      ../shared/peers/mobilenet_v2_1.0_224_keras_random_bn_int8.tflite (fully int8, int8
                    input and output; XNNPACK, num_threads T) on keras_input.npy quantized to its input
                    scale and zero point (clipped to int8); other weights (Keras random), no reference.

The quantized ONNX and OpenVINO models are made once, before the sessions, and cached under
benches/.cache/ (which ignores itself), keyed by a hash of model.onnx and io.safetensors and the
package versions.

For each thread count T (--threads, default 1,2) one child process runs an A/B session with
OMP_NUM_THREADS=T: for R rounds, every engine in a per-round shuffled order runs W warm-ups and K
timed iterations. Per engine: the median and p10/p90 over all R*K iterations, ours/peer (ours f32
median / engine median) and int8/peer (ours-int8 median / engine median). Per T, an int8 summary:
ours-int8 / ours f32, ours-int8 / each int8-or-default peer, and ours-int8 / the fastest peer
configuration (of every f32, default-precision and int8 peer row). Ours gets the same T threads as
the peers (see ours_threads()).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import os
import platform
import random
import shlex
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCHES = Path(__file__).resolve().parent
REPO = BENCHES.parent
SHARED = REPO.parent / "shared"

# Case name in the ab_worker protocol -> files and facts.
CASES = {
    "v2": {
        "label": "v2_1.0_224",
        "fixture": REPO / "fixtures/v2_1.0_224/io.safetensors",
        "onnx": SHARED / "reference/v2_1.0_224/model.onnx",
        "size": 224,
        "classes": 1000,
        "litert": True,
        "int8": True,  # ours-int8 and the int8 / default-precision peers
    },
    "tiny": {
        "label": "v2_0.35_96",
        "fixture": REPO / "fixtures/v2_0.35_96_c10/io.safetensors",
        "onnx": SHARED / "reference/v2_0.35_96_c10/model.onnx",
        "size": 96,
        "classes": 10,
        "litert": False,
        "int8": False,
    },
}
TFLITE = SHARED / "peers/mobilenet_v2_1.0_224_keras_random.tflite"
KERAS_INPUT = SHARED / "peers/keras_input.npy"
KERAS_OUTPUT = SHARED / "peers/keras_output.npy"
TFLITE_INT8 = SHARED / "peers/mobilenet_v2_1.0_224_keras_random_bn_int8.tflite"
# Calibration inputs of the quantized peers: the reference case's `input_nchw` [2,3,224,224].
CALIBRATION = SHARED / "reference/v2_1.0_224/io.safetensors"
# Quantized peer models, made once (gitignored by its own .gitignore).
CACHE = BENCHES / ".cache"

# Reduced-precision rows of 1.0-224 that the int8 summary compares ours-int8 with, in report order.
INT8_PEERS = ("ort-int8", "openvino-default", "openvino-int8", "litert-int8")

# The FMA bound of MobileNetV2 1.0-224 on one core: 300,774,272 MACs = 601.5 MFLOP at ~98 GFLOP/s.
V2_MFLOP = 601.5
CORE_GFLOPS = 98.0



def ours_threads(peer_threads: int) -> int:
    """How many threads ours gets in the session where the peers have T: the same."""
    return peer_threads

PEER_TOLERANCE = 1e-3  # ORT / OpenVINO logits vs torchvision's on the reference image


def fail(message: str) -> None:
    sys.exit(f"peers.py: error: {message}")


def require(path: Path, what: str) -> Path:
    if not path.is_file():
        fail(f"{what} not found: {path}\n  (the peer benchmarks read ../shared next to the repository root: {SHARED})")
    return path


def read_safetensors(path: Path) -> dict:
    """The f32 tensors of a safetensors file, as numpy arrays (no safetensors package needed)."""
    import numpy as np

    data = path.read_bytes()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_len])
    body = data[8 + header_len :]
    out = {}
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] != "F32":
            continue
        start, end = info["data_offsets"]
        out[name] = np.frombuffer(body[start:end], dtype="<f4").reshape(info["shape"]).copy()
    return out


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated percentile of an already sorted list, q in [0, 100]."""
    if len(sorted_values) == 1:
        return sorted_values[0]
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


# ---------------------------------------------------------------------------------------------
# Engines. Each has .name, .warm(n), .timed(n) -> list of ms, and .cpu_seconds() for utilisation.


class Ours:
    """The ab_worker process: `run MODEL N`, `check MODEL`, `peak`, `quit`."""

    def __init__(self, worker: Path, model: str, threads: int, name: str = "ours"):
        self.name = name
        self.model = model
        args = [str(worker)]
        if threads != 1:
            args += ["--threads", str(threads)]
        self.threads = threads
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def ask(self, line: str) -> str:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline()
        if not reply:
            fail(f"ab_worker exited (code {self.proc.poll()}) on {line!r}")
        if reply.startswith("error"):
            fail(f"ab_worker: {reply.strip()} (on {line!r})")
        return reply.strip()

    def peak_gflops(self) -> float:
        return float(self.ask("peak"))

    def top5(self) -> list[int]:
        return [int(x) for x in self.ask(f"check {self.model}").split()]

    def warm(self, n: int) -> None:
        self.ask(f"run {self.model} {n}")

    def timed(self, n: int) -> list[float]:
        return [float(x) for x in self.ask(f"run {self.model} {n}").split()]

    def cpu_seconds(self) -> float:
        """CPU time of every worker thread: schedstat (ns), else utime + stime (clock ticks)."""
        total, found = 0, False
        for stat in Path(f"/proc/{self.proc.pid}/task").glob("*/schedstat"):
            try:
                total += int(stat.read_text().split()[0])
                found = True
            except (OSError, ValueError, IndexError):
                pass  # a thread that just exited
        if found:
            return total / 1e9
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=30)


class InProcess:
    """A Python engine: `call()` runs one inference on inputs bound once at setup."""

    def __init__(self, name: str, call):
        self.name = name
        self.call = call

    def warm(self, n: int) -> None:
        for _ in range(n):
            self.call()

    def timed(self, n: int) -> list[float]:
        times = []
        clock = time.perf_counter_ns
        for _ in range(n):
            t = clock()
            self.call()
            times.append((clock() - t) / 1e6)
        return times

    def cpu_seconds(self) -> float:
        return time.process_time()

    def close(self) -> None:
        pass


def ort_engine(onnx: Path, x, threads: int, name: str = "ort"):
    import numpy as np
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if name != "ort":
        so.log_severity_level = 3  # the QDQ model keeps the original's unused constants: one warning each
    sess = ort.InferenceSession(str(onnx), so, providers=["CPUExecutionProvider"])
    out_shape = [d if isinstance(d, int) else 1 for d in sess.get_outputs()[0].shape]
    y = np.zeros(out_shape, dtype=np.float32)
    binding = sess.io_binding()
    binding.bind_cpu_input("input", x)
    binding.bind_output("logits", "cpu", 0, np.float32, out_shape, y.ctypes.data)

    def call(y=y):  # y (the bound output buffer) must outlive the binding: the closure keeps it
        sess.run_with_iobinding(binding)

    def logits():
        return sess.run(["logits"], {"input": x})[0]

    return InProcess(name, call), logits


def openvino_engine(model: Path, x, threads: int, name: str = "openvino", pin_f32: bool = True):
    """OpenVINO on `model` (ONNX or IR); `pin_f32=False` leaves the inference precision at its default."""
    import openvino as ov

    core = ov.Core()
    config = {
        "INFERENCE_NUM_THREADS": threads,
        "PERFORMANCE_HINT": "LATENCY",
    }
    if pin_f32:
        # float32 like everyone else: on CPUs with AMX or AVX512-BF16 OpenVINO defaults to bf16.
        config["INFERENCE_PRECISION_HINT"] = "f32"
    compiled = core.compile_model(core.read_model(str(model)), "CPU", config)
    actual = compiled.get_property("INFERENCE_NUM_THREADS")
    if int(actual) != threads:
        fail(f"OpenVINO ignored INFERENCE_NUM_THREADS={threads} (it reports {actual})")
    request = compiled.create_infer_request()
    request.set_input_tensor(ov.Tensor(x, shared_memory=True))

    def call(x=x):  # the shared input tensor points into x: keep it alive
        request.infer()

    def logits():
        return request.infer({0: x})[compiled.output(0)]

    # Which kernels it picked: exec-graph primitive types (e.g. brgconv_avx512_FP32).
    kinds = {}
    for op in compiled.get_runtime_model().get_ops():
        info = op.get_rt_info()
        if "primitiveType" in info:
            kind = info["primitiveType"].astype(str)
            if not kind.startswith("unknown"):  # constants, shape-of, ...
                kinds[kind] = kinds.get(kind, 0) + 1
    precision = compiled.get_property("INFERENCE_PRECISION_HINT")
    kinds["(inference precision)"] = precision.get_type_name() if hasattr(precision, "get_type_name") else str(precision)
    return InProcess(name, call), logits, kinds


def litert_engine(x, threads: int):
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(TFLITE), num_threads=threads)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]["index"]
    out = interp.get_output_details()[0]["index"]
    interp.set_tensor(inp, x)

    def call():
        interp.invoke()

    def logits():
        interp.set_tensor(inp, x)
        interp.invoke()
        return interp.get_tensor(out)

    return InProcess("litert", call), logits


def litert_int8_engine(x, threads: int):
    """The fully int8 TFLite model: `x` (float, NHWC) quantized to its input's scale and zero point."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(TFLITE_INT8), num_threads=threads)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    out = interp.get_output_details()[0]
    if inp["dtype"] != np.int8:
        fail(f"{TFLITE_INT8.name}: input is {inp['dtype']}, expected int8")
    scale, zero = inp["quantization"]
    info = np.iinfo(np.int8)
    q = np.round(x / scale) + zero
    clipped = float(np.mean((q < info.min) | (q > info.max)))
    xq = np.clip(q, info.min, info.max).astype(np.int8)
    interp.set_tensor(inp["index"], xq)

    def call():
        interp.invoke()

    def logits():
        interp.set_tensor(inp["index"], xq)
        interp.invoke()
        y = interp.get_tensor(out["index"]).astype(np.float32)
        out_scale, out_zero = out["quantization"]
        return (y - out_zero) * out_scale

    return InProcess("litert-int8", call), logits, {"input scale": scale, "input zero point": zero,
                                                   "clipped": clipped}


# ---------------------------------------------------------------------------------------------
# Quantized peer models: made once in the parent, cached under benches/.cache/.


def cache_dir() -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    ignore = CACHE / ".gitignore"
    if not ignore.is_file():
        ignore.write_text("# benches/peers.py: quantized peer models (generated, machine-independent but large)\n*\n")
    return CACHE


def digest(*paths: Path) -> str:
    h = hashlib.sha256()
    for path in paths:
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def calibration_inputs() -> list:
    """The reference inputs [1,3,224,224] the quantized peers are calibrated on (two N(0,1) images)."""
    x = read_safetensors(CALIBRATION)["input_nchw"]
    return [x[i : i + 1].copy() for i in range(x.shape[0])]


def ort_int8_model(onnx: Path) -> Path:
    """model.onnx quantized statically by onnxruntime.quantization: QDQ, per-channel, u8 activations, s8 weights."""
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    out = cache_dir() / f"{onnx.parent.name}.qdq-u8s8-perchannel.{digest(onnx, CALIBRATION)}-ort{ort.__version__}.onnx"
    if out.is_file():
        print(f"ort-int8: cached {out}", file=sys.stderr)
        return out

    class Reader(CalibrationDataReader):
        def __init__(self, inputs):
            self.feeds = iter([{"input": x} for x in inputs])

        def get_next(self):
            return next(self.feeds, None)

    print(f"ort-int8: quantizing {onnx} -> {out}", file=sys.stderr)
    ort.set_default_logger_severity(3)  # the calibration session warns about every unused initializer
    tmp = out.with_name(out.name + ".tmp")
    quantize_static(str(onnx), str(tmp), Reader(calibration_inputs()), quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    tmp.replace(out)
    return out


def openvino_int8_model(onnx: Path) -> Path | None:
    """model.onnx quantized by NNCF (default preset) as OpenVINO IR, or None without nncf."""
    try:
        with contextlib.redirect_stdout(sys.stderr):
            import nncf
    except ImportError:
        return None
    import openvino as ov

    key = f"{digest(onnx, CALIBRATION)}-ov{ov.__version__.split('-')[0]}-nncf{nncf.__version__}"
    xml = cache_dir() / f"{onnx.parent.name}.nncf-int8.{key}.xml"
    if xml.is_file() and xml.with_suffix(".bin").is_file():
        print(f"openvino-int8: cached {xml}", file=sys.stderr)
        return xml
    print(f"openvino-int8: quantizing {onnx} with NNCF -> {xml}", file=sys.stderr)
    tmp = xml.with_name("tmp-" + xml.name)
    inputs = calibration_inputs()
    with contextlib.redirect_stdout(sys.stderr):  # NNCF's progress bars: keep stdout for the report
        quantized = nncf.quantize(ov.Core().read_model(str(onnx)), nncf.Dataset(inputs), subset_size=len(inputs))
        ov.save_model(quantized, str(tmp), compress_to_fp16=False)
    tmp.with_suffix(".bin").replace(xml.with_suffix(".bin"))
    tmp.replace(xml)  # the .xml last: it names the .bin by its own stem
    return xml


def top5_agreement(top5: list[int], ref: list[int]) -> str:
    shared = len(set(top5) & set(ref))
    return f"{shared}/5 shared, top-1 {'same' if top5[:1] == ref[:1] else 'different'}"


# ---------------------------------------------------------------------------------------------
# One A/B session (child process, OMP_NUM_THREADS = T already set by the parent).


def session(args) -> dict:
    import numpy as np

    threads = args.session
    rng = random.Random(args.seed + threads)
    result = {"threads": threads, "models": {}, "checks": [], "isa": {}}
    for model in args.models:
        case = CASES[model]
        io = read_safetensors(case["fixture"])
        x_nchw = np.ascontiguousarray(io["input_nchw"][:1])
        reference = io["logits"][0]

        engines = []
        n_ours = ours_threads(threads)
        ours = Ours(args.worker, model, n_ours)
        ref_top5 = [int(i) for i in np.argsort(-reference)[:5]]
        top5 = ours.top5()
        if "peak_gflops" not in result:
            result["peak_gflops"] = ours.peak_gflops()
        result["checks"].append(f"{case['label']}: ours top-5 {top5} vs torchvision {ref_top5}: "
                                f"{'same' if top5 == ref_top5 else 'DIFFERENT'}")
        if top5 != ref_top5:
            fail(f"{case['label']}: our top-5 {top5} differs from torchvision's {ref_top5}")
        engines.append(ours)

        ort_e, ort_logits = ort_engine(case["onnx"], x_nchw, threads)
        ov_e, ov_logits, kinds = openvino_engine(case["onnx"], x_nchw, threads)
        result["isa"][f"openvino {case['label']} T={threads}"] = kinds
        for name, logits in (("ort", ort_logits), ("openvino", ov_logits)):
            diff = float(np.max(np.abs(np.asarray(logits()).reshape(-1) - reference)))
            result["checks"].append(f"{case['label']}: {name} vs torchvision logits max |diff| {diff:.2e}")
            print(f"  [T={threads}] {case['label']}: {name} vs torchvision max |diff| {diff:.2e}", file=sys.stderr)
            if not diff <= PEER_TOLERANCE:
                fail(f"{case['label']}: {name} logits differ from torchvision's by {diff:.3e}")
        engines += [ort_e, ov_e]
        if case["litert"]:
            keras_x = np.load(KERAS_INPUT).astype(np.float32)
            lite_e, lite_logits = litert_engine(keras_x, threads)
            diff = float(np.max(np.abs(lite_logits().reshape(-1) - np.load(KERAS_OUTPUT).reshape(-1))))
            result["checks"].append(f"{case['label']}: litert (keras random weights) vs keras max |diff| {diff:.2e}")
            if not diff <= PEER_TOLERANCE:
                fail(f"litert output differs from keras_output.npy by {diff:.3e}")
            engines.append(lite_e)

        if case["int8"] and args.int8:
            # Reduced precision: checked loosely (reported, never fatal: calibrated on two inputs for timing).
            ours8 = Ours(args.worker, "v2-int8", n_ours, name="ours-int8")
            top5_8 = ours8.top5()
            result["checks"].append(f"{case['label']}: ours-int8 top-5 {top5_8} vs torchvision {ref_top5}: "
                                    f"{top5_agreement(top5_8, ref_top5)}")
            engines.append(ours8)
            reduced = [ort_engine(args.ort_int8, x_nchw, threads, name="ort-int8")]
            ov_models = [("openvino-default", case["onnx"])]
            if args.ov_int8:
                ov_models.append(("openvino-int8", args.ov_int8))
            for name, path in ov_models:
                e, logits, kinds = openvino_engine(path, x_nchw, threads, name=name, pin_f32=False)
                result["isa"][f"{name} {case['label']} T={threads}"] = kinds
                reduced.append((e, logits))
            for e, logits in reduced:
                y = np.asarray(logits()).reshape(-1)
                diff = float(np.max(np.abs(y - reference)))
                top5_e = [int(i) for i in np.argsort(-y)[:5]]
                result["checks"].append(f"{case['label']}: {e.name} vs torchvision logits max |diff| {diff:.2e}, "
                                        f"top-5 {top5_e}: {top5_agreement(top5_e, ref_top5)}")
                print(f"  [T={threads}] {case['label']}: {e.name} vs torchvision max |diff| {diff:.2e}", file=sys.stderr)
                engines.append(e)
            if not args.ov_int8:
                result["checks"].append(f"{case['label']}: openvino-int8 not run: nncf is not installed "
                                        "(bash benches/setup.sh installs it)")
            lite8_e, lite8_logits, q = litert_int8_engine(np.load(KERAS_INPUT).astype(np.float32), threads)
            y = lite8_logits().reshape(-1)
            result["checks"].append(
                f"{case['label']}: litert-int8 (other Keras random weights, no reference output): keras_input.npy "
                f"quantized with scale {q['input scale']:.6g}, zero point {q['input zero point']} "
                f"({q['clipped']:.1%} of values clipped to int8); {y.size} outputs in [{y.min():.3g}, {y.max():.3g}]")
            engines.append(lite8_e)

        times = {e.name: [] for e in engines}
        cpu = {e.name: 0.0 for e in engines}
        wall = {e.name: 0.0 for e in engines}
        for r in range(args.rounds):
            order = engines[:]
            rng.shuffle(order)
            for e in order:
                e.warm(args.warmup)
                c0, w0 = e.cpu_seconds(), time.perf_counter()
                times[e.name] += e.timed(args.iters)
                cpu[e.name] += e.cpu_seconds() - c0
                wall[e.name] += time.perf_counter() - w0
            print(f"  [T={threads}] {case['label']}: round {r + 1}/{args.rounds} "
                  + " ".join(f"{n}={statistics.median(t):.2f}" for n, t in times.items()), file=sys.stderr)
        for e in engines:
            e.close()
        result["models"][model] = {
            name: {
                "times": t,
                "cpu_util": cpu[name] / wall[name] if wall[name] > 0 else float("nan"),
                "threads": n_ours if name.startswith("ours") else threads,
            }
            for name, t in times.items()
        }
    return result


# ---------------------------------------------------------------------------------------------
# Parent: spawn one session per T, then the report.


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def versions() -> dict:
    from importlib.metadata import version

    out = {"python": platform.python_version()}
    for pkg in ("numpy", "onnxruntime", "onnx", "openvino", "nncf", "ai-edge-litert"):
        try:
            out[pkg] = version(pkg)
        except Exception:  # noqa: BLE001
            out[pkg] = "not installed"
    try:
        rev = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                             capture_output=True, text=True, check=True).stdout.strip()
    except Exception:  # noqa: BLE001
        rev = "unknown"
    out["ours (git)"] = rev
    return out


def report(args, results: list[dict], elapsed: float) -> str:
    flags = cpu_flags()
    isa = [f for f in ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16", "amx_tile")
           if f in flags]
    int8 = any("ours-int8" in res["models"].get(m, {}) for res in results for m in args.models)
    lines = [
        f"# MobileNetV2: ours vs peers (A/B, batch 1, float32{' and int8' if int8 else ''})",
        "",
        f"- CPU: {cpu_model()} ({', '.join(isa)}); {os.cpu_count()} logical cores, "
        f"{len(os.sched_getaffinity(0))} usable",
        f"- date: {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}; wall time {elapsed:.0f} s; "
        f"load average at start {args.load_start}, at end {load_average()} (other work on the machine skews timings)",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()),
        f"- command: `{args.command}`",
        f"- method: {args.rounds} rounds x {args.iters} timed iterations after {args.warmup} warm-ups, engines "
        "shuffled per round; one session (process) per thread count T with OMP_NUM_THREADS=T; ours/peer = "
        "ours (float32) median / row median (> 1: ours slower); CPU util = CPU seconds / wall seconds while timed",
        "- litert runs the Keras-built 1.0-224 (same architecture and MACs, random weights) on keras_input.npy; "
        "the others run the reference weights on the reference image",
    ]
    if int8:
        lines += [
            "- int8 (1.0-224): int8/peer = ours-int8 median / row median. ours-int8 = `benches/specs/v2_int8.yaml` "
            "(calibrated on reference image 0); ort-int8 = model.onnx by onnxruntime.quantization.quantize_static "
            "(QDQ, per-channel, uint8 activations, int8 weights, MinMax on the two reference inputs); "
            "openvino-default = model.onnx with no INFERENCE_PRECISION_HINT (the precision it resolved to is under "
            "the kernels below); openvino-int8 = model.onnx quantized by NNCF (default preset, same two inputs), "
            "default precision otherwise; litert-int8 = the fully int8 Keras-random TFLite "
            "(`mobilenet_v2_1.0_224_keras_random_bn_int8.tflite`, other weights) on keras_input.npy quantized to int8",
        ]
    header = "| model | threads | engine | median ms | p10 ms | p90 ms | ours/peer |"
    rule = "| --- | ---: | --- | ---: | ---: | ---: | ---: |"
    if int8:
        header += " int8/peer |"
        rule += " ---: |"
    lines += ["", header + " CPU util | n |", rule + " ---: | ---: |"]
    ours_v2 = []
    summary = []  # (T, {engine: median}) of 1.0-224 runs with ours-int8
    for model in args.models:
        for res in results:
            rows = res["models"][model]
            medians = {name: statistics.median(row["times"]) for name, row in rows.items()}
            ours_median = medians["ours"]
            int8_median = medians.get("ours-int8")
            if model == "v2":
                ours_v2.append((res["threads"], ours_median))
                if int8_median is not None:
                    summary.append((res["threads"], medians))
            for name, row in rows.items():
                t = sorted(row["times"])
                med = medians[name]
                engine = name
                if name.startswith("ours"):
                    engine = f"{name} ({row['threads']} thread{'s' if row['threads'] > 1 else ''})"
                line = (f"| {CASES[model]['label']} | {res['threads']} | {engine} | {med:.3f} | {percentile(t, 10):.3f} | "
                        f"{percentile(t, 90):.3f} | {ours_median / med:.2f} |")
                if int8:
                    line += f" {int8_median / med:.2f} |" if int8_median is not None else " |"
                lines.append(line + f" {row['cpu_util']:.2f} | {len(t)} |")
    if summary:
        lines += [
            "",
            "int8 summary (v2_1.0_224; medians in ms, ratios = ours-int8 median / the other's: < 1 means "
            "ours-int8 is faster; fastest peer configuration = the lowest median of every peer row, float32, "
            "default precision or int8):",
            "",
            "| threads | ours-int8 ms | ours f32 ms | ours-int8/ours-f32 | "
            + " | ".join(f"{p} ms | ours-int8/{p}" for p in INT8_PEERS)
            + " | fastest peer configuration | ours-int8/fastest |",
            "| ---: | ---: | ---: | ---: | " + " | ".join("---: | ---:" for _ in INT8_PEERS) + " | --- | ---: |",
        ]
        for t, medians in summary:
            ours8 = medians["ours-int8"]
            cells = [str(t), f"{ours8:.3f}", f"{medians['ours']:.3f}", f"{ours8 / medians['ours']:.2f}"]
            for p in INT8_PEERS:
                cells += [f"{medians[p]:.3f}", f"{ours8 / medians[p]:.2f}"] if p in medians else ["not run", ""]
            peers_only = {n: m for n, m in medians.items() if not n.startswith("ours")}
            fastest = min(peers_only, key=peers_only.get)
            cells += [f"{fastest} ({peers_only[fastest]:.3f} ms)", f"{ours8 / peers_only[fastest]:.2f}"]
            lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    measured = max((r.get("peak_gflops", 0.0) for r in results), default=0.0)
    peaks = [(args.core_gflops, "the AVX2+FMA core of shared/peers/README.md" if args.core_gflops == CORE_GFLOPS
              else "--core-gflops")]
    if measured > 0:
        peaks.append((measured, "this core, measured by ab_worker's FMA probe"))
    for t, med in ours_v2:
        gflops = V2_MFLOP / med
        for peak, what in peaks:
            bound = V2_MFLOP / (peak * t)
            lines.append(
                f"FMA bound (v2_1.0_224, {t} core{'s' if t > 1 else ''} at {peak:g} GFLOP/s each, {what}): "
                f"{bound:.2f} ms; ours (T={t}) {med:.2f} ms = {med / bound:.2f}x the bound "
                f"({gflops:.1f} GFLOP/s, {gflops / (peak * t):.0%} of that peak)."
            )
    lines += ["", "Checks:"]
    for res in results:
        lines += [f"- T={res['threads']}: {c}" for c in res["checks"]]
    lines += ["", "OpenVINO kernels (exec-graph primitive types, count):"]
    for res in results:
        for key, kinds in res["isa"].items():
            kinds = dict(kinds)
            precision = kinds.pop("(inference precision)", None)
            lines.append(f"- {key}" + (f" (inference precision {precision})" if precision else "") + ": "
                         + ", ".join(f"{k} x{n}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1])))
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = Path(os.environ["CARGO_TARGET_DIR"]) if os.environ.get("CARGO_TARGET_DIR") else REPO / "target"
    p.add_argument("--worker", type=Path, default=target / "release/ab_worker",
                   help="release ab_worker binary (default: target/release/ab_worker under the repo root, or "
                        "$CARGO_TARGET_DIR/release/ab_worker; build it with "
                        "`cargo build --release -p mobilenet-benches --features bench --bin ab_worker`)")
    p.add_argument("--rounds", type=int, default=15, help="A/B rounds (default 15)")
    p.add_argument("--iters", type=int, default=20, help="timed iterations per engine per round (default 20)")
    p.add_argument("--warmup", type=int, default=3, help="warm-up iterations before each timed run (default 3)")
    p.add_argument("--threads", default="1,2", help="peer thread counts, comma-separated (default 1,2)")
    p.add_argument("--models", default="v2,tiny", help="v2 (1.0-224) and/or tiny (0.35-96) (default v2,tiny)")
    p.add_argument("--no-int8", dest="int8", action="store_false",
                   help="float32 engines only: no ours-int8, ort-int8, openvino-default, openvino-int8, litert-int8 "
                        "(default: run them for v2)")
    p.add_argument("--out", type=Path, default=BENCHES / "results.md", help="markdown report (default benches/results.md)")
    p.add_argument("--seed", type=int, default=0, help="seed of the per-round shuffles")
    p.add_argument("--core-gflops", type=float, default=CORE_GFLOPS,
                   help=f"one core's FMA peak for the bound in the footer (default {CORE_GFLOPS:g})")
    p.add_argument("--session", type=int, help=argparse.SUPPRESS)  # internal: run one session with T threads
    p.add_argument("--session-out", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--ort-int8", type=Path, help=argparse.SUPPRESS)  # internal: the quantized models
    p.add_argument("--ov-int8", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    for m in args.models:
        if m not in CASES:
            fail(f"unknown model {m!r} (expected v2 or tiny)")

    if args.session is not None:
        args.session_out.write_text(json.dumps(session(args)))
        return

    threads = [int(t) for t in args.threads.split(",")]
    if not args.worker.is_file():
        fail(f"ab_worker not found at {args.worker}\n  build it: cargo build --release -p mobilenet-benches --features bench "
             f"--bin ab_worker\n  (or pass --worker PATH, e.g. under your CARGO_TARGET_DIR)")
    for m in args.models:
        require(CASES[m]["fixture"], "fixture")
        require(CASES[m]["onnx"], "reference ONNX model")
    if "v2" in args.models:
        for f in (TFLITE, KERAS_INPUT, KERAS_OUTPUT):
            require(f, "LiteRT peer file")
    int8_models = [m for m in args.models if CASES[m]["int8"]] if args.int8 else []
    for m in int8_models:
        require(TFLITE_INT8, "LiteRT int8 peer file")
        require(CALIBRATION, "calibration inputs")
        probe = subprocess.run([str(args.worker)], input="check v2-int8\nquit\n", capture_output=True, text=True)
        if probe.stdout.startswith("error") or probe.returncode != 0:
            fail(f"{args.worker} has no int8 model ({(probe.stdout or probe.stderr).strip()})\n"
                 "  build it with `cargo build --release -p mobilenet-benches --features bench --bin ab_worker`, "
                 "or pass --no-int8")
        args.ort_int8 = ort_int8_model(CASES[m]["onnx"])
        args.ov_int8 = openvino_int8_model(CASES[m]["onnx"])
        if args.ov_int8 is None:
            print("openvino-int8: skipped (nncf is not installed; bash benches/setup.sh installs it)", file=sys.stderr)
    args.command = shlex.join([sys.executable, *sys.argv])

    args.load_start = load_average()
    start = time.perf_counter()
    results = []
    with tempfile.TemporaryDirectory(prefix="peers-") as tmp:
        for t in threads:
            out = Path(tmp) / f"session-{t}.json"
            # OMP for any OpenMP build; numpy's OpenBLAS pool would only add idle threads.
            env = dict(os.environ, OMP_NUM_THREADS=str(t), OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
            cmd = [sys.executable, __file__, "--session", str(t), "--session-out", str(out),
                   "--worker", str(args.worker), "--rounds", str(args.rounds), "--iters", str(args.iters),
                   "--warmup", str(args.warmup), "--models", ",".join(args.models), "--seed", str(args.seed)]
            if not args.int8:
                cmd.append("--no-int8")
            if args.ort_int8:
                cmd += ["--ort-int8", str(args.ort_int8)]
            if args.ov_int8:
                cmd += ["--ov-int8", str(args.ov_int8)]
            print(f"session T={t}: {shlex.join(cmd)}", file=sys.stderr)
            rc = subprocess.run(cmd, env=env).returncode
            if rc != 0:
                fail(f"session T={t} failed (exit {rc})")
            results.append(json.loads(out.read_text()))
    text = report(args, results, time.perf_counter() - start)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"written to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
