//! A per-layer table of a compiled network in the spirit of torchsummary: output shapes,
//! parameters (as torchvision counts them), multiply-accumulates, then the memory plan.

use crate::ir::Value;
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

/// The summary table of `program`, ending in a newline.
pub fn summary(program: &Program) -> String {
    let net = &program.network;
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
    out.push_str(&"-".repeat(total_width));
    out.push('\n');

    let arena = &program.arena;
    let _ = writeln!(
        out,
        "Arena: {} bytes (peak), liveness lower bound {} bytes",
        thousands(arena.bytes() as u64),
        thousands(arena.lower_bound_bytes() as u64)
    );
    // Which layer produces each tensor, to name it in the table.
    let mut producer = vec![String::new(); net.tensors.len()];
    for l in &net.layers {
        if let Value::Tensor(t) = l.output {
            producer[t] = l.conv.clone().unwrap_or_else(|| "pool".to_string());
        }
    }
    let th = ["Tensor", "Shape", "Offset (B)", "Bytes", "Live (layers)", "Written by"];
    let trows: Vec<[String; 6]> = arena
        .placements
        .iter()
        .map(|p| {
            let s = net.tensors[p.tensor];
            [
                p.tensor.to_string(),
                format!("[{}, {}, {}]", s.h, s.w, s.c),
                thousands(p.offset as u64 * 4),
                thousands(p.len as u64 * 4),
                format!("{}..={}", p.first, p.last),
                producer[p.tensor].clone(),
            ]
        })
        .collect();
    let mut tw = th.map(str::len);
    for row in &trows {
        for (w, cell) in tw.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let tline = |c: [&str; 6]| {
        let [w0, w1, w2, w3, w4, _] = tw;
        format!(
            "{:>w0$}{:gap$}{:>w1$}{:gap$}{:>w2$}{:gap$}{:>w3$}{:gap$}{:>w4$}{:gap$}{}",
            c[0], "", c[1], "", c[2], "", c[3], "", c[4], "", c[5]
        )
        .trim_end()
        .to_string()
            + "\n"
    };
    out.push_str(&tline(th));
    for r in &trows {
        out.push_str(&tline([&r[0], &r[1], &r[2], &r[3], &r[4], &r[5]]));
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
        let s = summary(&program);
        assert!(s.contains("\nTotal params: 3,504,872\n"), "{s}");
        assert!(s.contains("\nTotal MACs: 300,774,272\n"), "{s}");
        assert!(s.contains("\nInput: 224x224x3\n"), "{s}");
        assert!(s.contains("features.0.0 (conv3x3/2)"), "{s}");
        assert!(s.contains("features.2.conv.0.0 (conv1x1+relu6)"), "{s}");
        assert!(s.contains("[56, 56, 144]"), "{s}");
        assert!(s.contains("pool (avgpool)"), "{s}");
        assert!(s.contains("classifier.1 (linear)"), "{s}");
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
