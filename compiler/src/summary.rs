//! A per-layer table of a compiled network in the spirit of torchsummary: output shapes,
//! parameters (as torchvision counts them), multiply-accumulates, then the memory plan (in bytes
//! of f32 activations, or of int8 ones), and for an int8 model every tensor's quantization.

use crate::ir::Value;
use crate::passes::fuse_blocks::{Buffer, FusedBlock, Step};
use crate::quantize::{QuantizedNetwork, Requant};
use crate::Program;
use std::fmt::Write;

/// `n` with thousands separators: `3504872` -> `3,504,872`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// The summary table of `program` (`int8`: its quantization, for a `precision: int8` spec),
/// ending in a newline.
pub fn summary(program: &Program, int8: Option<&QuantizedNetwork>) -> String {
    let net = &program.network;
    // Bytes an activation takes.
    let size: u64 = if int8.is_some() { 1 } else { 4 };
    let header = ["Layer (type)", "Output Shape", "Param #", "MACs"];
    let rows: Vec<[String; 4]> = net
        .layers
        .iter()
        .map(|l| {
            let s = l.output_shape;
            [
                format!("{} ({})", l.conv.as_deref().unwrap_or("pool"), l.kind_name()),
                format!("[{}, {}, {}]", s.h, s.w, s.c),
                thousands(l.torch_params() as u64),
                thousands(l.macs()),
            ]
        })
        .collect();
    let mut width = header.map(str::len);
    for row in &rows {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let gap = 4;
    let total_width = width.iter().sum::<usize>() + gap * (width.len() - 1);
    let line = |cells: [&str; 4]| {
        let [a, b, c, d] = cells;
        let [wa, wb, wc, wd] = width;
        format!("{a:<wa$}{:gap$}{b:>wb$}{:gap$}{c:>wc$}{:gap$}{d:>wd$}\n", "", "", "")
    };

    let mut out = String::new();
    let spec = &net.spec;
    let _ = writeln!(
        out,
        "Model: {} (MobileNetV2, width_mult {}, {} classes)",
        spec.name, spec.width_mult, spec.num_classes
    );
    out.push_str(&"-".repeat(total_width));
    out.push('\n');
    out.push_str(&line(header));
    out.push_str(&"=".repeat(total_width));
    out.push('\n');
    for row in &rows {
        out.push_str(&line([&row[0], &row[1], &row[2], &row[3]]));
    }
    out.push_str(&"=".repeat(total_width));
    out.push('\n');
    let _ = writeln!(out, "Total params: {}", thousands(net.torch_params() as u64));
    let _ = writeln!(out, "Total MACs: {}", thousands(net.macs()));
    let _ = writeln!(out, "Input: {}", net.input);
    let spec = &net.spec;
    let padding = match spec.padding {
        crate::spec::Padding::Torch => "torch (1 on every side)",
        crate::spec::Padding::Tf => "tf (TensorFlow \"SAME\": stride 2 on even sizes pads bottom/right only)",
    };
    let _ = writeln!(out, "Padding: {padding}; BatchNorm eps: {:e}", spec.bn_eps);
    if spec.input.format == crate::spec::InputFormat::Rgb8 {
        let (m, s) = (spec.input.mean, spec.input.std);
        let _ = writeln!(
            out,
            "forward_rgb8: 8-bit RGB normalised as (x / 255 - mean) / std, mean {m:?}, std {s:?}, staged in the arena for step 0"
        );
    }
    out.push_str(&"-".repeat(total_width));
    out.push('\n');

    let arena = &program.arena;
    let sched = &program.schedule;
    let _ = writeln!(
        out,
        "Execution plan: {} steps; each of the {} inverted-residual blocks is one step, run in row bands",
        sched.steps.len(),
        sched.blocks().count()
    );
    let plan = match spec.plan {
        crate::spec::Plan::Speed => {
            "row bands sized for fast GEMMs; `plan: memory` narrows them where that shrinks the arena"
        }
        crate::spec::Plan::Memory => {
            "blocks chained and row bands narrowed where they set the peak: the bound is that of one-row bands and chunks"
        }
    };
    let _ = writeln!(out, "Plan: {} ({plan})", spec.plan.name());
    let step_rows: Vec<[String; 4]> = sched
        .steps
        .iter()
        .enumerate()
        .map(|(k, step)| match step {
            Step::Layer(l) => {
                let layer = &net.layers[*l];
                let name = layer.conv.clone().unwrap_or_else(|| "pool".into());
                [k.to_string(), format!("{name} ({})", layer.kind_name()), "-".into(), "-".into()]
            }
            Step::Chain(c) => {
                let stage = |b: &FusedBlock| net.layers[b.project].stage.unwrap_or_default();
                let (a, b) = (c.first.dims, c.second.dims);
                let what = format!(
                    "features.{}+{} chained {}{}x{}x{} -> {}x{}x{} -> {}x{}x{} (chunks of {} rows)",
                    stage(&c.first),
                    stage(&c.second),
                    if a.stem.is_some() { "stem + " } else { "" },
                    a.h,
                    a.w,
                    a.cin,
                    b.h,
                    b.w,
                    b.cin,
                    b.ho(),
                    b.wo(),
                    b.cout,
                    c.chunk
                );
                let bands = format!("{}, {}", a.band, b.band);
                [k.to_string(), what, bands, thousands(c.scratch_len() as u64 * size)]
            }
            Step::Block(b) => {
                let d = b.dims;
                let stage = net.layers[b.project].stage.unwrap_or_default();
                let what = format!(
                    "features.{stage} fused {}{}x{}x{} -> {}x{}x{} (hidden {}{}{})",
                    if d.stem.is_some() { "stem + " } else { "" },
                    d.h,
                    d.w,
                    d.cin,
                    d.ho(),
                    d.wo(),
                    d.cout,
                    d.hidden,
                    if d.expand { "" } else { ", no expand" },
                    if d.residual { ", residual" } else { "" }
                );
                [k.to_string(), what, format!("{} of {}", d.band, d.ho()), thousands(d.scratch_len() as u64 * size)]
            }
        })
        .collect();
    out.push_str(&table(["Step", "What", "Band rows", "Scratch (B)"], &step_rows));
    let _ = writeln!(
        out,
        "Arena: {} bytes (peak{}), liveness lower bound {} bytes",
        thousands(arena.size as u64 * size),
        if int8.is_some() { ", int8 activations" } else { "" },
        thousands(arena.lower_bound as u64 * size)
    );
    let _ = writeln!(
        out,
        "Op-by-op schedule would need at least {} bytes ({:.2}x the fused peak)",
        thousands(program.op_by_op_bound as u64 * size),
        program.op_by_op_bound as f64 / arena.size.max(1) as f64
    );
    let per_thread = sched.thread_scratch_len();
    let _ =
        writeln!(out, "forward_parallel: {} bytes of scratch per extra thread", thousands(per_thread as u64 * size));
    if int8.is_some() {
        let _ = writeln!(out, "forward_batch: every step image by image");
    } else {
        let _ = writeln!(
            out,
            "forward_batch: steps 0..{} image by image, steps {}.. step by step over the batch",
            program.batch_step_major_from, program.batch_step_major_from
        );
    }

    let buffer_rows: Vec<[String; 5]> = arena
        .placements
        .iter()
        .map(|p| {
            let (holds, shape) = match sched.buffers[p.buffer] {
                Buffer::Tensor(t) => {
                    let s = net.tensors[t];
                    (producer_of(net, t), format!("[{}, {}, {}]", s.h, s.w, s.c))
                }
                Buffer::Scratch(k) => (format!("scratch of step {k}"), "-".into()),
                Buffer::Image => {
                    let s = net.input;
                    ("image from forward_rgb8".into(), format!("[{}, {}, {}]", s.h, s.w, s.c))
                }
            };
            [
                holds,
                shape,
                thousands(p.offset as u64 * size),
                thousands(p.len as u64 * size),
                format!("{}..={}", p.first, p.last),
            ]
        })
        .collect();
    out.push_str(&table(["Buffer", "Shape", "Offset (B)", "Bytes", "Live (steps)"], &buffer_rows));
    if let Some(q) = int8 {
        out.push_str(&quantization(q));
    }
    out
}

/// An int8 model's quantization: the rule, the image's parameters, then per layer its input's
/// and output's scale and zero point, its clamp and its weight scales' range.
fn quantization(q: &QuantizedNetwork) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "int8: activation ranges are the float model's min/max over the calibration images, widened to contain 0; weights symmetric per output channel; real = scale * (level - zero_point)"
    );
    let _ = writeln!(out, "Image: scale {:.6e}, zero point {}", q.image.scale, q.image.zero_point);
    let rows: Vec<[String; 5]> = q
        .network
        .layers
        .iter()
        .zip(&q.layers)
        .map(|(l, ql)| {
            let name = format!("{} ({})", l.conv.as_deref().unwrap_or("pool"), l.kind_name());
            let input = format!("{:.4e} / {}", ql.input.scale, ql.input.zero_point);
            let (output, clamp) = match &ql.requant {
                Requant::Levels { output, clamp, .. } => {
                    (format!("{:.4e} / {}", output.scale, output.zero_point), format!("{}..={}", clamp.0, clamp.1))
                }
                Requant::Mean => ("as input".into(), "-".into()),
                Requant::Logits { .. } => ("f32 logits".into(), "-".into()),
            };
            let weights = match ql.weight_scales.iter().copied().reduce(f32::min) {
                Some(lo) => {
                    let hi = ql.weight_scales.iter().copied().fold(lo, f32::max);
                    format!("{lo:.3e}..{hi:.3e}")
                }
                None => "-".into(),
            };
            [name, input, output, clamp, weights]
        })
        .collect();
    out.push_str(&table(
        ["Layer (type)", "Input scale / zero point", "Output scale / zero point", "Clamp", "Weight scales"],
        &rows,
    ));
    out
}

/// The layer that writes tensor `t`, to name it.
fn producer_of(net: &crate::ir::Network, t: usize) -> String {
    net.layers
        .iter()
        .find(|l| l.output == Value::Tensor(t))
        .and_then(|l| l.conv.clone())
        .map_or_else(|| "pool".into(), |c| format!("output of {c}"))
}

/// Text columns (the first two) left-aligned, numbers right-aligned.
fn table<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: [&str; N]| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
            match i {
                0 => s.push_str(&format!("{c:<w$}")),
                1 => s.push_str(&format!("  {c:<w$}")),
                _ => s.push_str(&format!("  {c:>w$}")),
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header);
    for row in rows {
        out.push_str(&line(core::array::from_fn(|i| row[i].as_str())));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(3_504_872), "3,504,872");
        assert_eq!(thousands(300_774_272), "300,774,272");
        assert_eq!(thousands(u64::MAX), "18,446,744,073,709,551,615");
    }

    #[test]
    fn mobilenet_v2_totals() {
        let program = crate::compile_str("v.yaml", "name: V\nresolution: 224\n").unwrap();
        let s = summary(&program, None);
        assert!(s.contains("\nTotal params: 3,504,872\n"), "{s}");
        assert!(s.contains("\nTotal MACs: 300,774,272\n"), "{s}");
        assert!(s.contains("\nInput: 224x224x3\nPadding: torch (1 on every side); BatchNorm eps: 1e-5\n"), "{s}");
        assert!(s.contains("features.0.0 (conv3x3/2)"), "{s}");
        assert!(s.contains("features.2.conv.0.0 (conv1x1+relu6)"), "{s}");
        assert!(s.contains("[56, 56, 144]"), "{s}");
        assert!(s.contains("pool (avgpool)"), "{s}");
        assert!(s.contains("classifier.1 (linear)"), "{s}");
        // The stem runs inside the first block: 17 blocks, the last 1x1, pool, classifier.
        assert!(s.contains("\nExecution plan: 20 steps; each of the 17 inverted-residual blocks"), "{s}");
        assert!(s.contains("\nPlan: speed (row bands sized for fast GEMMs"), "{s}");
        let arena = format!(
            "\nArena: {} bytes (peak), liveness lower bound {} bytes\n",
            thousands(program.arena.bytes() as u64),
            thousands(program.arena.lower_bound_bytes() as u64)
        );
        assert!(s.contains(&arena), "{s}");
        // One table row per layer and per tensor, all lines free of trailing spaces.
        let stem = s.lines().find(|l| l.starts_with("features.0.0 ")).unwrap();
        let cells: Vec<&str> = stem.split_whitespace().collect();
        assert_eq!(cells, ["features.0.0", "(conv3x3/2)", "[112,", "112,", "32]", "928", "10,838,016"]);
        assert!(s.lines().all(|l| !l.ends_with(' ')));
        let rows = s.lines().filter(|l| l.contains(" (") && l.contains("[")).count();
        assert_eq!(rows, program.network.layers.len());
    }
}
