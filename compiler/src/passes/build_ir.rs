//! Spec -> layer IR, following `torchvision.models.MobileNetV2` exactly, every shape inferred.

use crate::error::Error;
use crate::ir::{Layer, Network, Op, Shape, TensorId, Value};
use crate::spec::{locate, Seg, SourceFile, Spec, MAX_CHANNELS};
use mobilenet_kernels::reference::conv3x3_out;

/// Largest activation tensor accepted, in floats (4 GiB of f32).
pub const MAX_TENSOR_FLOATS: usize = 1 << 30;

/// torchvision's `_make_divisible`.
pub fn make_divisible(v: f64, divisor: usize) -> usize {
    let d = divisor as f64;
    let mut new_v = (((v + d / 2.0) as i64 / divisor as i64) * divisor as i64).max(divisor as i64) as f64;
    if new_v < 0.9 * v {
        new_v += d;
    }
    new_v as usize
}

/// Build the IR. `src` locates errors that only the derived sizes reveal.
pub fn build(spec: &Spec, src: &SourceFile) -> Result<Network, Error> {
    let mut b = Builder { tensors: Vec::new(), layers: Vec::new() };
    let too_big = |path: &[Seg<'_>], what: String| Error::at(locate(src, path), what);

    let stem_c = make_divisible(spec.input_channel as f64 * spec.width_mult, spec.round_nearest);
    let last_c = make_divisible(spec.last_channel as f64 * spec.width_mult.max(1.0), spec.round_nearest);
    for (c, key) in [(stem_c, "input_channel"), (last_c, "last_channel")] {
        if c as u64 > MAX_CHANNELS {
            return Err(too_big(
                &[Seg::Key(key)],
                format!("{key} scales to {c} channels, more than {MAX_CHANNELS}; lower it or width_mult"),
            ));
        }
    }
    let input = Shape { h: spec.height, w: spec.width, c: 3 };
    let mut cur = Shape { h: conv3x3_out(input.h, 2), w: conv3x3_out(input.w, 2), c: stem_c };
    let mut x = b.layer(Op::Stem, Value::Image, input, cur, None, "features.0.0", "features.0.1", Some(0));

    let mut stage = 1;
    for (r, row) in spec.table.iter().enumerate() {
        let row_path = [Seg::Key("inverted_residual_setting"), Seg::Index(r)];
        let out_c = make_divisible(row.c as f64 * spec.width_mult, spec.round_nearest);
        if out_c as u64 > MAX_CHANNELS {
            return Err(too_big(&row_path, format!("inverted_residual_setting[{r}]: c scales to {out_c} channels, more than {MAX_CHANNELS}; lower c or width_mult")));
        }
        for i in 0..row.n {
            let stride = if i == 0 { row.s } else { 1 };
            let hidden = (cur.c as f64 * row.t).round_ties_even();
            if !(1.0..=MAX_CHANNELS as f64).contains(&hidden) {
                return Err(too_big(
                    &row_path,
                    format!(
                        "inverted_residual_setting[{r}]: expansion t = {} gives round({} * {}) = {hidden} hidden channels in features.{stage}; t must give 1 to {MAX_CHANNELS}",
                        row.t, cur.c, row.t
                    ),
                ));
            }
            let hidden = hidden as usize;
            let p = format!("features.{stage}.conv");
            let block_in = x;
            let mut h = x;
            let mut hs = cur;
            let mut j = 0;
            if row.t != 1.0 {
                let es = Shape { c: hidden, ..cur };
                h = b.layer(
                    Op::Pointwise { relu: true },
                    Value::Tensor(h),
                    hs,
                    es,
                    None,
                    &format!("{p}.0.0"),
                    &format!("{p}.0.1"),
                    None,
                );
                hs = es;
                j = 1;
            }
            let ds = Shape { h: conv3x3_out(hs.h, stride), w: conv3x3_out(hs.w, stride), c: hidden };
            h = b.layer(
                Op::Depthwise { stride },
                Value::Tensor(h),
                hs,
                ds,
                None,
                &format!("{p}.{j}.0"),
                &format!("{p}.{j}.1"),
                None,
            );
            let os = Shape { c: out_c, ..ds };
            let residual = (stride == 1 && cur.c == out_c).then_some(block_in);
            x = b.layer(
                Op::Pointwise { relu: false },
                Value::Tensor(h),
                ds,
                os,
                residual,
                &format!("{p}.{}", j + 1),
                &format!("{p}.{}", j + 2),
                Some(stage),
            );
            cur = os;
            stage += 1;
        }
    }
    let ls = Shape { c: last_c, ..cur };
    let p = format!("features.{stage}");
    x = b.layer(
        Op::Pointwise { relu: true },
        Value::Tensor(x),
        cur,
        ls,
        None,
        &format!("{p}.0"),
        &format!("{p}.1"),
        Some(stage),
    );
    let pooled = Shape { h: 1, w: 1, c: last_c };
    let pool = b.tensor(pooled);
    b.layers.push(Layer {
        op: Op::AvgPool,
        input: Value::Tensor(x),
        input_shape: ls,
        output: Value::Tensor(pool),
        output_shape: pooled,
        residual: None,
        conv: None,
        bn: None,
        stage: None,
    });
    b.layers.push(Layer {
        op: Op::Linear,
        input: Value::Tensor(pool),
        input_shape: pooled,
        output: Value::Logits,
        output_shape: Shape { h: 1, w: 1, c: spec.num_classes },
        residual: None,
        conv: Some("classifier.1".into()),
        bn: None,
        stage: None,
    });

    if let Some(s) = b.tensors.iter().find(|s| s.len() > MAX_TENSOR_FLOATS) {
        return Err(too_big(
            &[Seg::Key("resolution")],
            format!("an activation of {s} is more than {MAX_TENSOR_FLOATS} floats; lower the resolution or width_mult"),
        ));
    }
    Ok(Network { spec: spec.clone(), input, tensors: b.tensors, layers: b.layers, stages: stage + 1 })
}

struct Builder {
    tensors: Vec<Shape>,
    layers: Vec<Layer>,
}

impl Builder {
    fn tensor(&mut self, s: Shape) -> TensorId {
        self.tensors.push(s);
        self.tensors.len() - 1
    }

    #[allow(clippy::too_many_arguments)]
    fn layer(
        &mut self,
        op: Op,
        input: Value,
        input_shape: Shape,
        output_shape: Shape,
        residual: Option<TensorId>,
        conv: &str,
        bn: &str,
        stage: Option<usize>,
    ) -> TensorId {
        let out = self.tensor(output_shape);
        self.layers.push(Layer {
            op,
            input,
            input_shape,
            output: Value::Tensor(out),
            output_shape,
            residual,
            conv: Some(conv.to_string()),
            bn: Some(bn.to_string()),
            stage,
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn make_divisible_matches_torchvision() {
        // Values checked against torchvision.models._utils._make_divisible.
        assert_eq!(make_divisible(32.0 * 0.35, 8), 16);
        assert_eq!(make_divisible(16.0 * 0.35, 8), 8);
        assert_eq!(make_divisible(24.0 * 0.35, 8), 8);
        assert_eq!(make_divisible(96.0 * 0.35, 8), 32);
        assert_eq!(make_divisible(320.0 * 1.4, 8), 448);
        assert_eq!(make_divisible(1280.0 * 1.4, 8), 1792);
        assert_eq!(make_divisible(24.0 * 0.5, 8), 16);
        assert_eq!(make_divisible(10.0, 4), 12);
        assert_eq!(make_divisible(36.0, 8), 40);
    }
}
