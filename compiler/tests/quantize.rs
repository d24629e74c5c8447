//! int8 quantization: the trained digits model calibrated on its calibration images only,
//! against PyTorch's float logits on the 360 held-out test images (agreement, accuracy, RMS
//! logit error); random-weight specs against the float reference interpreter; calibration
//! files that are wrong.

use mobilenet_compiler::init_weights::init_weights;
use mobilenet_compiler::ir::Op;
use mobilenet_compiler::quantize::calibrate::read_images;
use mobilenet_compiler::quantize::{interpreter, quantize, Requant};
use mobilenet_compiler::{compile_file, compile_str, reference};
use safetensors::{serialize, tensor::TensorView, Dtype};
use std::path::Path;

fn repo(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

fn argmax(v: &[f32]) -> usize {
    (0..v.len()).fold(0, |best, i| if v[i] > v[best] { i } else { best })
}

fn rms(a: &[f32], b: &[f32]) -> f64 {
    let sum: f64 = a.iter().zip(b).map(|(x, y)| f64::from(x - y).powi(2)).sum();
    (sum / a.len() as f64).sqrt()
}

fn images_file(shape: &[usize], data: &[f32]) -> Vec<u8> {
    let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    let view = TensorView::new(Dtype::F32, shape.to_vec(), &bytes).unwrap();
    serialize([("images", view)], None).unwrap()
}

#[test]
fn digits_int8_agrees_with_float_on_the_test_split() {
    let compiled = compile_file(&repo("."), "models/digits/model.yaml").unwrap();
    let net = &compiled.program.network;
    let weights = std::fs::read(repo("models/digits/weights.safetensors")).unwrap();
    let (n, images) = read_images(&std::fs::read(repo("models/digits/calibration.safetensors")).unwrap(), net).unwrap();
    assert_eq!(n, 200);
    let q = quantize(&compiled.program, &weights, &images, n).unwrap();

    let test = std::fs::read(repo("fixtures/digits/test.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&test).unwrap();
    let inputs = f32s(st.tensor("input_nhwc").unwrap().data());
    let want = f32s(st.tensor("logits").unwrap().data());
    let labels: Vec<usize> = st
        .tensor("labels")
        .unwrap()
        .data()
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap()) as usize)
        .collect();
    let k = net.num_classes();
    let (mut agree, mut right_int8, mut right_float) = (0, 0, 0);
    let mut got = Vec::new();
    for (i, x) in inputs.chunks_exact(net.input.len()).enumerate() {
        let logits = interpreter::run(&q, x).unwrap().logits;
        let (p8, pf) = (argmax(&logits), argmax(&want[i * k..(i + 1) * k]));
        agree += usize::from(p8 == pf);
        right_int8 += usize::from(p8 == labels[i]);
        right_float += usize::from(pf == labels[i]);
        got.extend(logits);
    }
    let total = labels.len();
    assert_eq!((total, right_float), (360, 358), "the fixture's float accuracy is PyTorch's 358/360");
    let err = rms(&got, &want);
    let spread = rms(&want, &vec![0.0; want.len()]);
    println!(
        "digits int8: top-1 agreement {agree}/{total}, accuracy {right_int8}/{total} (float {right_float}/{total}), RMS logit error {err:.4} (float logits' RMS {spread:.3})"
    );
    assert!(agree * 100 >= total * 99, "top-1 agreement {agree}/{total} is under 99%");
    assert!(
        right_float.saturating_sub(right_int8) * 100 <= total,
        "accuracy {right_int8}/{total} is more than 1 point under float's"
    );
    assert!(err < 0.05 * spread, "RMS logit error {err} against logits of RMS {spread}");
}

/// Small specs covering both paddings, residual blocks, odd sizes and expansion 1, with random
/// weights, calibrated on one set of images and run on another: every stage's dequantized
/// levels and the logits near the float reference's.
#[test]
fn random_specs_stay_near_the_float_reference() {
    // Each with its bounds on the logits' and the worst stage's RMS error (of their RMS): B's
    // 8-channel layers, with random weights, quantize more coarsely (measured: A 0.028 and
    // 0.063, B 0.100 and 0.172).
    let specs = [
        ("name: A\nresolution: 17\nwidth_mult: 0.5\nnum_classes: 5\ninverted_residual_setting: [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2]]\n", 0.05, 0.1),
        ("name: B\nresolution: [19, 12]\nwidth_mult: 0.35\nnum_classes: 7\npadding: tf\nbn_eps: 0.001\ninverted_residual_setting: [[1, 8, 1, 1], [4, 16, 2, 1], [6, 24, 2, 2]]\n", 0.15, 0.25),
    ];
    for (text, logit_bound, stage_bound) in specs {
        let program = compile_str("t.yaml", text).unwrap();
        let net = &program.network;
        let weights = init_weights(net, 3);
        let per = net.input.len();
        let images: Vec<f32> = (0..16 * per).map(|i| ((i * 7919 % 2003) as f32 / 2003.0) * 4.0 - 2.0).collect();
        let q = quantize(&program, &weights, &images, 16).unwrap();
        // Held-out images: another pattern over the same range.
        let held_out: Vec<f32> = (0..4 * per).map(|i| ((i * 104_729 % 1999) as f32 / 1999.0) * 4.0 - 2.0).collect();
        let (mut worst, mut worst_stage) = (0.0f64, 0.0f64);
        for x in held_out.chunks_exact(per) {
            let want = reference::run(net, &weights, x).unwrap();
            let got = interpreter::run(&q, x).unwrap();
            assert_eq!(got.stages.len(), net.stages);
            for ((name, _, levels, params), (want_name, _, floats)) in got.stages.iter().zip(&want.stages) {
                assert_eq!(name, want_name);
                let deq: Vec<f32> = levels.iter().map(|&l| params.dequantize(l)).collect();
                worst_stage = worst_stage.max(rms(&deq, floats) / rms(floats, &vec![0.0; floats.len()]).max(1e-6));
            }
            worst = worst.max(rms(&got.logits, &want.logits) / rms(&want.logits, &vec![0.0; want.logits.len()]));
        }
        println!(
            "{}: RMS error of the logits {worst:.4}, of the worst stage {worst_stage:.4} (of their RMS)",
            text.lines().next().unwrap()
        );
        assert!(worst < logit_bound, "{text}: RMS logit error {worst} of the logits' RMS");
        assert!(worst_stage < stage_bound, "{text}: a stage's RMS error {worst_stage} of its RMS");
    }
}

#[test]
fn every_layer_is_quantized_as_its_op_needs() {
    let program = compile_file(&repo("."), "models/digits/model.yaml").unwrap().program;
    let weights = std::fs::read(repo("models/digits/weights.safetensors")).unwrap();
    let net = &program.network;
    let images: Vec<f32> = (0..2 * net.input.len()).map(|i| (i % 17) as f32 / 8.0 - 1.0).collect();
    let q = quantize(&program, &weights, &images, 2).unwrap();
    for (layer, ql) in net.layers.iter().zip(&q.layers) {
        match &ql.requant {
            Requant::Levels { output, multipliers, residual, clamp } => {
                assert_eq!(multipliers.len(), layer.output_shape.c);
                assert_eq!(residual.is_some(), layer.residual.is_some());
                let c = layer.output_shape.c;
                assert_eq!(ql.weight_scales.len(), c);
                for row in ql.weight.chunks_exact(ql.weight.len() / c) {
                    let largest = row.iter().map(|w| w.unsigned_abs()).max().unwrap();
                    assert!(largest == 127 || largest == 0, "per-channel symmetric: each row spans [-127, 127]");
                }
                // ReLU6 as a clamp: its floor is the zero point (the level of 0.0), its ceiling the
                // level of 6.0 where that is below 255; a linear projection is not clamped. With
                // min/max ranges (a ReLU6 output's within [0, 6]) both come out as 0..=255; the
                // kernels' narrower clamps are drawn by their property tests.
                let relu6 = !matches!(layer.op, Op::Pointwise { relu: false });
                if relu6 {
                    let six = i64::from(output.zero_point) + (6.0 / f64::from(output.scale)).round() as i64;
                    assert_eq!(*clamp, (output.zero_point as u8, six.min(255) as u8), "{:?}", layer.conv);
                } else {
                    assert_eq!(*clamp, (0, 255), "{:?}", layer.conv);
                }
            }
            Requant::Mean => assert!(ql.weight.is_empty()),
            Requant::Logits { scales } => assert_eq!(scales.len(), net.num_classes()),
        }
    }
}

#[test]
fn bad_calibration_files_say_what_is_wrong() {
    let net = compile_str("t.yaml", "name: T\nresolution: 4\nwidth_mult: 0.25\nnum_classes: 3\n").unwrap().network;
    let err = |bytes: &[u8]| read_images(bytes, &net).unwrap_err();
    assert!(err(b"not safetensors").contains("not a safetensors file"));
    let wrong_name = {
        let bytes = vec![0u8; 4];
        let view = TensorView::new(Dtype::F32, vec![1], &bytes).unwrap();
        serialize([("pictures", view)], None).unwrap()
    };
    let e = err(&wrong_name);
    assert!(e.contains("no tensor `images`") && e.contains("pictures"), "{e}");
    let e = err(&images_file(&[2, 5, 4, 3], &[0.0; 120]));
    assert!(e.contains("[2, 5, 4, 3]") && e.contains("[N, 4, 4, 3]"), "{e}");
    let e = err(&images_file(&[0, 4, 4, 3], &[]));
    assert!(e.contains("no images"), "{e}");
    let mut nan = vec![0.5f32; 96];
    nan[50] = f32::NAN;
    let e = err(&images_file(&[2, 4, 4, 3], &nan));
    assert!(e.contains("image 1, element 2"), "{e}");
    assert_eq!(read_images(&images_file(&[2, 4, 4, 3], &[0.25; 96]), &net).unwrap().0, 2);
}

/// MobileNetV2 1.0-224's int8 arena: the speed plan, one byte an activation.
#[test]
fn v2_int8_arena_is_under_0_4_mib() {
    let program = compile_str("v2.yaml", "name: V\nresolution: 224\n").unwrap();
    let bytes = program.arena.int8_bytes();
    println!("v2 1.0-224 int8 ARENA_BYTES: {bytes} ({:.3} MiB)", bytes as f64 / (1 << 20) as f64);
    assert!(bytes * 10 <= 4 << 20, "int8 arena {bytes} bytes is over 0.4 MiB");
    // The figure the README gives; a plan change that moves it should update both.
    assert_eq!(bytes, 313_600);
}

/// A small int8 spec with its weights and calibration images, written to a folder of its own
/// inside the workspace (where the compiler accepts files) and compiled as the macro does.
struct Case {
    dir: std::path::PathBuf,
}

impl Case {
    const SPEC: &'static str = "name: Q\nresolution: 8\nwidth_mult: 0.25\nnum_classes: 3\nlast_channel: 16\ninverted_residual_setting: [[1, 8, 1, 1], [2, 8, 1, 2]]\nweights: w.safetensors\nprecision: int8\ncalibration: c.safetensors\n";

    fn new(tag: &str, spec: &str, weights: &[u8], images: &[f32]) -> Case {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("quantize-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("q.yaml"), spec).unwrap();
        std::fs::write(dir.join("w.safetensors"), weights).unwrap();
        std::fs::write(dir.join("c.safetensors"), images_file(&[images.len() / 192, 8, 8, 3], images)).unwrap();
        Case { dir }
    }

    fn expand(&self) -> Result<proc_macro2::TokenStream, mobilenet_compiler::Error> {
        mobilenet_compiler::expand_file(&self.dir, "q.yaml", mobilenet_compiler::codegen::Target::STD)
    }

    /// The error compiling it gives (without printing the generated code if it compiles).
    fn error(&self) -> mobilenet_compiler::Error {
        match self.expand() {
            Ok(_) => panic!("the case compiled"),
            Err(e) => e,
        }
    }
}

impl Drop for Case {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `weights` (safetensors) with the tensors `edit` names replaced by the values it returns.
fn edit_weights(weights: &[u8], edit: impl Fn(&str, &[f32]) -> Option<Vec<f32>>) -> Vec<u8> {
    let st = safetensors::SafeTensors::deserialize(weights).unwrap();
    let tensors: Vec<(String, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(name, t)| {
            let data = match t.dtype() {
                Dtype::F32 => edit(&name, &f32s(t.data()))
                    .map_or_else(|| t.data().to_vec(), |v| v.iter().flat_map(|x| x.to_le_bytes()).collect()),
                _ => t.data().to_vec(),
            };
            (name, t.shape().to_vec(), data)
        })
        .collect();
    let dtype = |name: &str| st.tensor(name).unwrap().dtype();
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(n, shape, data)| (n.clone(), TensorView::new(dtype(n), shape.clone(), data).unwrap()))
        .collect();
    serialize(views, None).unwrap()
}

fn calibration_images(n: usize) -> Vec<f32> {
    (0..n * 192).map(|i| ((i * 7919 % 2003) as f32 / 2003.0) * 4.0 - 2.0).collect()
}

/// The case compiles, and the generated code includes every file the macro read (so cargo
/// rebuilds the user's crate when one changes).
#[test]
fn the_int8_test_case_compiles_and_tracks_its_files() {
    let spec = format!("{}labels: l.txt\n", Case::SPEC);
    let program = compile_str("q.yaml", &spec).unwrap();
    let case = Case::new("plain", &spec, &init_weights(&program.network, 5), &calibration_images(4));
    std::fs::write(case.dir.join("l.txt"), "a\nb\nc\n").unwrap();
    let code = case.expand().unwrap().to_string();
    let dir = std::fs::canonicalize(&case.dir).unwrap();
    for (mac, file) in [
        ("include_str", "q.yaml"),
        ("include_bytes", "w.safetensors"),
        ("include_bytes", "c.safetensors"),
        ("include_str", "l.txt"),
    ] {
        let path = dir.join(file).display().to_string();
        assert!(code.contains(&format!("{mac} ! (\"{path}\")")), "no {mac}!(\"{path}\")");
    }
}

/// Weights so large that the float model overflows f32 on the calibration images: a located
/// error naming the layer, not an infinite scale baked into the model (or a panic in codegen).
#[test]
fn weights_that_overflow_the_float_model_are_an_error() {
    let program = compile_str("q.yaml", Case::SPEC).unwrap();
    // The first block's projection at 3e38 behind an identity BatchNorm, so that folding keeps
    // them finite and the float sums of 8 channels overflow.
    let weights = edit_weights(&init_weights(&program.network, 5), |name, v| match name {
        "features.1.conv.1.weight" => Some(vec![3e38; v.len()]),
        "features.1.conv.2.weight" | "features.1.conv.2.running_var" => Some(vec![1.0; v.len()]),
        "features.1.conv.2.bias" | "features.1.conv.2.running_mean" => Some(vec![0.0; v.len()]),
        _ => None,
    });
    let e = Case::new("overflow", Case::SPEC, &weights, &calibration_images(4)).error();
    let loc = e.location.as_ref().expect("located");
    assert_eq!((loc.line, loc.column), (9, 14), "{e}");
    assert!(e.message.contains("`features.1.conv.1`") && e.message.contains("not finite"), "{e}");
}

/// Calibration images that barely differ from 0 give a scale too small for a normal f32; the
/// image then quantizes with scale 1 (every level 0) and the model still compiles.
#[test]
fn calibration_ranges_too_narrow_for_f32_still_compile() {
    let program = compile_str("q.yaml", Case::SPEC).unwrap();
    let weights = init_weights(&program.network, 5);
    let case = Case::new("narrow", Case::SPEC, &weights, &vec![1e-37; 4 * 192]);
    case.expand().unwrap();
    let q = mobilenet_compiler::compile_file(&case.dir, "q.yaml").unwrap().int8.unwrap().0;
    assert_eq!((q.image.scale, q.image.zero_point), (1.0, 0));
    assert!(q.image.inverse_scale().is_finite());
}

/// A weight row too small for a normal f32 scale quantizes to zeros with scale 1.
#[test]
fn weight_rows_too_small_for_f32_quantize_to_zero() {
    use mobilenet_compiler::quantize::arith::{quantize_weights, QParams};
    let (levels, scales) = quantize_weights(&[1e-44, -3e-44, 0.0, 2.0, -1.5, 0.5], 2);
    assert_eq!(levels, [0, 0, 0, 127, -95, 32]);
    assert_eq!(scales, [1.0, 2.0 / 127.0]);
    let q = QParams::from_range(0.0, 1e-37);
    assert_eq!((q.scale, q.zero_point), (1.0, 0));
    let q = QParams::from_range(-1e-30, 1e-30);
    assert!(q.scale.is_normal() && q.inverse_scale().is_finite());
}

/// A layer whose int8 accumulators could overflow an i32: a located error at `precision`.
#[test]
fn layers_too_deep_for_int8_accumulators_are_an_error() {
    let spec = Case::SPEC.replace("last_channel: 16", "last_channel: 33008");
    let program = compile_str("q.yaml", &spec).unwrap();
    let e = Case::new("deep", &spec, &init_weights(&program.network, 5), &calibration_images(1)).error();
    let loc = e.location.as_ref().expect("located");
    assert_eq!((loc.line, loc.column), (8, 12), "{e}");
    assert!(e.message.contains("`classifier.1`") && e.message.contains("33008 products"), "{e}");
    let ok = Case::SPEC.replace("last_channel: 16", "last_channel: 33000");
    assert!(mobilenet_compiler::quantize::check_depth(&compile_str("q.yaml", &ok).unwrap().network).is_ok());
}
