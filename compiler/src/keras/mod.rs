//! `mobilenet-compiler import-keras`: a Keras `keras.applications.MobileNetV2` (a Keras 3
//! `.keras` file or a legacy `.h5`; with its stock head, or nested in a transfer-learning model
//! that adds pooling, dropout and a Dense layer) to a spec and a safetensors file under
//! torchvision's names, which the compiler accepts.
//!
//! [`archive`] opens the file, [`config`] flattens the model config's layers, [`plan`] matches
//! them against MobileNetV2, [`mapping`] reads the tensors and re-lays them out. Here the spec
//! is chosen and checked: `width_mult` is Keras's alpha when torchvision's channel rounding
//! gives the model's channel counts, else the counts are written out; the spec is compiled and,
//! once written, compiled again with its weights, so a mismatch is an error, not a wrong file.

pub mod archive;
pub mod config;
pub mod hdf5;
pub mod mapping;
pub mod plan;

use crate::Error;
use mapping::Tensor;
use plan::Plan;
use std::path::Path;

/// The spec file and weights file names written into the output folder.
pub const SPEC_FILE: &str = "model.yaml";
pub const WEIGHTS_FILE: &str = "weights.safetensors";

/// Keras's `alpha` values with ImageNet weights: tried when the model's name does not say.
const ALPHAS: [f64; 6] = [0.35, 0.5, 0.75, 1.0, 1.3, 1.4];

/// An imported model: the spec text, the safetensors bytes and what they were made from.
#[derive(Clone, Debug)]
pub struct Imported {
    pub yaml: String,
    pub weights: Vec<u8>,
    pub plan: Plan,
    /// `width_mult` in the spec: alpha, or 1.0 when the channels are written out.
    pub width_mult: f64,
    /// Parameters as torchvision counts them.
    pub params: usize,
}

/// Import the model at `model` as a spec named `name`, in memory. The spec is compiled (not
/// yet with its weights: see [`import`]). `resolution` (height, width) sizes a model saved
/// without a fixed input size, or must equal the size it was saved with.
pub fn convert(model: &Path, name: &str, resolution: Option<(usize, usize)>) -> Result<Imported, Error> {
    check_name(name)?;
    let src = archive::open(model)?;
    let flat = config::flatten(&src.config)?;
    let plan = plan::plan(&flat, resolution)?;
    let tensors = mapping::tensors(&plan, &src)?;
    let (shape, width_mult, params) = choose_shape(&plan, name, &tensors)?;
    let file = model.file_name().map_or_else(|| model.display().to_string(), |f| f.to_string_lossy().into_owned());
    let yaml = spec_text(&plan, &file, &shape);
    let weights = mapping::serialize(&tensors)?;
    Ok(Imported { yaml, weights, plan, width_mult, params })
}

/// Import the model at `model` into `out/model.yaml` and `out/weights.safetensors`, then
/// compile the written spec with its weights. On failure nothing is left behind.
pub fn import(model: &Path, name: &str, out: &Path, resolution: Option<(usize, usize)>) -> Result<Imported, Error> {
    let imported = convert(model, name, resolution)?;
    std::fs::create_dir_all(out).map_err(|e| Error::new(format!("cannot create `{}`: {e}", out.display())))?;
    let (spec, weights) = (out.join(SPEC_FILE), out.join(WEIGHTS_FILE));
    let remove = || {
        let _ = std::fs::remove_file(&spec);
        let _ = std::fs::remove_file(&weights);
    };
    if let Err(e) = std::fs::write(&weights, &imported.weights).and_then(|()| std::fs::write(&spec, &imported.yaml)) {
        remove();
        return Err(Error::new(format!("cannot write into `{}`: {e}", out.display())));
    }
    let checked = crate::compile_file(out, SPEC_FILE)
        .and_then(|c| c.baked.map(|_| ()).ok_or_else(|| Error::new("the spec names no weights")));
    if let Err(e) = checked {
        remove();
        return Err(Error::new(format!(
            "the imported spec does not compile with its weights, so nothing was written: {e}"
        )));
    }
    Ok(imported)
}

/// The spec's `name` becomes a Rust type: check it here, where `--name` can be blamed.
fn check_name(name: &str) -> Result<(), Error> {
    if syn::parse_str::<syn::Ident>(name).is_err() || name.starts_with("r#") || name == "_" {
        return Err(Error::new(format!(
            "--name must be a Rust type name (letters, digits, `_`; not a keyword), found {name:?}; e.g. --name KerasMobileNetV2"
        )));
    }
    Ok(())
}

/// The spec keys that fix the network's shape, as YAML lines (no weights, padding or epsilon);
/// `explicit` when they write the channel counts out.
#[derive(Clone, Debug, PartialEq)]
struct Shape {
    lines: Vec<String>,
    explicit: bool,
}

/// Pick the spec keys that give exactly the tensors read from the model: alpha as
/// `width_mult` if torchvision's rounding reproduces the channels, else the channels written
/// out. Returns them, the `width_mult` and the parameter count.
fn choose_shape(plan: &Plan, name: &str, tensors: &[Tensor]) -> Result<(Shape, f64, usize), Error> {
    let mut want: Vec<(String, Vec<usize>)> = tensors.iter().map(|t| (t.name.clone(), t.shape.clone())).collect();
    want.sort();
    let mut alphas: Vec<f64> = alpha_from_name(&plan.model).into_iter().collect();
    alphas.extend(ALPHAS);
    let mut candidates: Vec<(Shape, f64)> = alphas.iter().map(|&a| (alpha_shape(plan, name, a), a)).collect();
    candidates.push((explicit_shape(plan, name), 1.0));
    let mut last_error = None;
    for (shape, width_mult) in candidates {
        let text = shape.lines.join("\n") + "\n";
        let program = match crate::compile_str(SPEC_FILE, &text) {
            Ok(p) => p,
            Err(e) => {
                last_error = Some(e);
                continue;
            }
        };
        let mut got = mapping::expected(&program.network);
        got.sort();
        if got == want {
            return Ok((shape, width_mult, program.network.torch_params()));
        }
        let diff = want.iter().zip(&got).find(|(a, b)| a != b).map(|(a, b)| (a.clone(), b.clone()));
        last_error = Some(Error::new(match diff {
            Some((a, b)) => format!("the model has `{}` {:?} where the spec gives `{}` {:?}", a.0, a.1, b.0, b.1),
            None => format!("the model has {} tensors, the spec {}", want.len(), got.len()),
        }));
    }
    let why = last_error.map_or_else(String::new, |e| format!(": {e}"));
    Err(Error::new(format!("no spec reproduces this model's tensors{why}")))
}

/// `mobilenetv2_0.35_96` -> 0.35 (Keras names the model `mobilenetv2_{alpha:0.2f}_{rows}`).
fn alpha_from_name(model: &str) -> Option<f64> {
    let rest = model.strip_prefix("mobilenetv2_")?;
    let alpha: f64 = rest.split('_').next()?.parse().ok()?;
    (alpha > 0.0 && alpha.is_finite()).then_some(alpha)
}

fn head_lines(plan: &Plan, name: &str) -> Vec<String> {
    let resolution =
        if plan.height == plan.width { plan.height.to_string() } else { format!("[{}, {}]", plan.height, plan.width) };
    vec![format!("name: {}", yaml_name(name)), format!("resolution: {resolution}")]
}

fn alpha_shape(plan: &Plan, name: &str, alpha: f64) -> Shape {
    let mut lines = head_lines(plan, name);
    lines.push(format!("width_mult: {alpha:?}"));
    lines.push(format!("num_classes: {}", plan.classes));
    Shape { lines, explicit: false }
}

/// `width_mult: 1.0` and every channel count written out, one table row per run of blocks with
/// the same expansion and width whose later blocks keep stride 1.
fn explicit_shape(plan: &Plan, name: &str) -> Shape {
    // [t, c, n, s]
    let mut rows: Vec<(f64, usize, usize, usize)> = Vec::new();
    for b in &plan.blocks {
        let cin = b.depthwise.cin;
        let t = b.expand.as_ref().map_or(1.0, |e| e.cout as f64 / e.cin as f64);
        let c = b.project.cout;
        match rows.last_mut() {
            // A later block of a row keeps stride 1 and takes the row's width as its input.
            Some(row) if row.0 == t && row.1 == c && b.stride == 1 && cin == c => row.2 += 1,
            _ => rows.push((t, c, 1, b.stride)),
        }
    }
    let mut channels: Vec<usize> = rows.iter().map(|r| r.1).collect();
    channels.extend([plan.stem.cout, plan.last.cout]);
    let mut lines = head_lines(plan, name);
    lines.push("width_mult: 1.0".into());
    // torchvision rounds every count to a multiple of `round_nearest` (default 8).
    if channels.iter().any(|c| c % 8 != 0) {
        lines.push("round_nearest: 1".into());
    }
    lines.push(format!("num_classes: {}", plan.classes));
    lines.push(format!("input_channel: {}", plan.stem.cout));
    lines.push(format!("last_channel: {}", plan.last.cout));
    lines.push("inverted_residual_setting:".into());
    lines.extend(rows.iter().map(|(t, c, n, s)| format!("  - [{t}, {c}, {n}, {s}]")));
    Shape { lines, explicit: true }
}

/// A type name as a YAML scalar: quoted when YAML would read it as something else.
fn yaml_name(name: &str) -> String {
    let special = ["null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE"];
    if special.contains(&name) {
        format!("\"{name}\"")
    } else {
        name.to_string()
    }
}

fn spec_text(plan: &Plan, file: &str, shape: &Shape) -> String {
    let mut out = format!("# Imported from {file} by `mobilenet-compiler import-keras`.\n");
    out += &format!(
        "# Keras model `{}`: MobileNetV2 with TensorFlow \"SAME\" padding and BatchNorm epsilon {}.\n",
        plan.model, plan.bn_eps
    );
    if plan.softmax {
        out += "# Its classifier ends in a softmax; this network returns the logits before it.\n";
    }
    if shape.explicit {
        out += "# The channel counts are written out: no width_mult gives them by torchvision's rounding.\n";
    }
    for line in &shape.lines {
        out += line;
        out.push('\n');
    }
    out += "padding: tf\n";
    out += &format!("bn_eps: {}\n", plan.bn_eps);
    // keras.applications.mobilenet_v2.preprocess_input: x / 127.5 - 1.
    out += "input: {format: rgb8, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]}\n";
    out += &format!("weights: {WEIGHTS_FILE}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpha_comes_from_keras_model_names() {
        assert_eq!(alpha_from_name("mobilenetv2_0.35_96"), Some(0.35));
        assert_eq!(alpha_from_name("mobilenetv2_1.00_224"), Some(1.0));
        assert_eq!(alpha_from_name("mobilenetv2_1.30_224"), Some(1.3));
        assert_eq!(alpha_from_name("my_model"), None);
        assert_eq!(alpha_from_name("mobilenetv2_x_96"), None);
        assert_eq!(alpha_from_name("mobilenetv2_-1_96"), None);
    }

    /// A plan with `blocks` as (expansion, output channels, stride); no weights behind it.
    fn plan(stem: usize, blocks: &[(usize, usize, usize)], last: usize) -> Plan {
        use plan::{Block, Conv, ConvBn, WeightLayer};
        let w = || WeightLayer { name: String::new(), h5_group: String::new(), keras_group: String::new() };
        let unit = |kind, cin, cout, stride| ConvBn { kind, conv: w(), bn: w(), cin, cout, stride };
        let mut cin = stem;
        let blocks = blocks
            .iter()
            .map(|&(t, c, s)| {
                let hidden = cin * t;
                let b = Block {
                    expand: (t != 1).then(|| unit(Conv::Pointwise, cin, hidden, 1)),
                    depthwise: unit(Conv::Depthwise, hidden, hidden, s),
                    project: unit(Conv::Pointwise, hidden, c, 1),
                    stride: s,
                };
                cin = c;
                b
            })
            .collect();
        Plan {
            model: "custom".into(),
            height: 32,
            width: 24,
            stem: unit(Conv::Stem, 3, stem, 2),
            blocks,
            last: unit(Conv::Pointwise, cin, last, 1),
            classifier: w(),
            classes: 3,
            softmax: false,
            bn_eps: 1e-3,
        }
    }

    /// The tensors (names and shapes; no data) the compiler expects for spec `text`.
    fn tensors_of(text: &str) -> Vec<Tensor> {
        let program = crate::compile_str("t.yaml", text).unwrap();
        let expected = mapping::expected(&program.network);
        expected.into_iter().map(|(name, shape)| Tensor { name, shape, data: Vec::new() }).collect()
    }

    #[test]
    fn channels_no_alpha_gives_are_written_out() {
        let cases = [
            // Multiples of 8: torchvision's default rounding keeps them.
            (
                16,
                vec![(1, 8, 1), (6, 24, 2), (6, 24, 1), (6, 40, 1)],
                1280,
                "[[1, 8, 1, 1], [6, 24, 2, 2], [6, 40, 1, 1]]",
                false,
            ),
            // Not multiples of 8: `round_nearest: 1`.
            (12, vec![(1, 6, 1), (6, 20, 2)], 100, "[[1, 6, 1, 1], [6, 20, 1, 2]]", true),
        ];
        for (stem, blocks, last, table, round1) in cases {
            let plan = plan(stem, &blocks, last);
            let reference = format!(
                "name: T\nresolution: [32, 24]\nround_nearest: 1\nnum_classes: 3\ninput_channel: {stem}\nlast_channel: {last}\ninverted_residual_setting: {table}\n"
            );
            let (shape, width_mult, _) = choose_shape(&plan, "T", &tensors_of(&reference)).unwrap();
            assert!(shape.explicit && width_mult == 1.0, "{shape:?}");
            assert!(shape.lines.contains(&"resolution: [32, 24]".to_string()), "{shape:?}");
            assert_eq!(shape.lines.contains(&"round_nearest: 1".to_string()), round1, "{shape:?}");
            let text = spec_text(&plan, "m.keras", &shape);
            assert!(text.contains("channel counts are written out") && text.contains("padding: tf\n"), "{text}");
        }
        // Tensors no spec can give are an error, not a wrong spec.
        let mut tensors = tensors_of("name: T\nresolution: 32\nwidth_mult: 0.5\nnum_classes: 3\n");
        tensors[0].shape[0] += 1;
        let std_plan = plan(16, &[(1, 8, 1)], 1280);
        assert!(choose_shape(&std_plan, "T", &tensors).unwrap_err().to_string().contains("no spec reproduces"));
    }

    #[test]
    fn names_must_be_rust_types_and_yaml_safe() {
        assert!(check_name("KerasV2").is_ok());
        for bad in ["", "1abc", "a-b", "fn", "r#x", "_", "a b"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert_eq!(yaml_name("True"), "\"True\"");
        assert_eq!(yaml_name("KerasV2"), "KerasV2");
    }
}
