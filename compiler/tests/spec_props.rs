//! Property tests over randomly generated specs (either padding, either `plan`): shape
//! inference agrees with torchvision's formulas and TensorFlow's "SAME" sizes (re-derived here,
//! independently of the compiler), parameter and MAC counts follow, and both memory plans (op by
//! op, and the schedule's) are valid and within 5% of their liveness bounds.

mod common;

use mobilenet_compiler::compile_str;
use proptest::prelude::*;

/// torchvision's `_make_divisible`, as Python computes it.
fn make_divisible(v: f64, d: usize) -> usize {
    let d = d as i64;
    let mut new_v = ((v + d as f64 / 2.0) as i64 / d * d).max(d);
    if (new_v as f64) < 0.9 * v {
        new_v += d;
    }
    new_v as usize
}

/// Python's `round` (half to even) of a product, as torchvision computes hidden widths.
fn py_round(x: f64) -> usize {
    x.round_ties_even() as usize
}

fn conv_out(n: usize, k: usize, s: usize, p: usize) -> usize {
    (n + 2 * p - k) / s + 1
}

#[derive(Debug, Clone)]
struct Gen {
    h: usize,
    w: usize,
    width: f64,
    round: usize,
    classes: usize,
    rows: Vec<(f64, usize, usize, usize)>,
    tf: bool,
    memory: bool,
}

impl Gen {
    fn yaml(&self) -> String {
        let res = if self.h == self.w { format!("{}", self.h) } else { format!("[{}, {}]", self.h, self.w) };
        let rows: String = self.rows.iter().map(|(t, c, n, s)| format!("  - [{t}, {c}, {n}, {s}]\n")).collect();
        let padding = if self.tf { "padding: tf\n" } else { "" };
        let plan = if self.memory { "plan: memory\n" } else { "" };
        format!(
            "name: P\nresolution: {res}\nwidth_mult: {}\nround_nearest: {}\nnum_classes: {}\n{padding}{plan}inverted_residual_setting:\n{rows}",
            self.width, self.round, self.classes
        )
    }

    /// A 3x3 convolution's output size: torchvision's (padding 1), or TensorFlow's "SAME"
    /// (`ceil(n / stride)`).
    fn out(&self, n: usize, stride: usize) -> usize {
        if self.tf {
            n.div_ceil(stride)
        } else {
            conv_out(n, 3, stride, 1)
        }
    }

    /// Stage output shapes [h, w, c], parameter count and MACs, the torchvision way.
    fn expected(&self) -> (Vec<[usize; 3]>, usize, u64) {
        let mut stages = Vec::new();
        let (mut h, mut w) = (self.out(self.h, 2), self.out(self.w, 2));
        let mut c = make_divisible(32.0 * self.width, self.round);
        let mut params = 27 * c + 2 * c;
        let mut macs = (h * w * c * 27) as u64;
        stages.push([h, w, c]);
        for &(t, cc, n, s) in &self.rows {
            let out = make_divisible(cc as f64 * self.width, self.round);
            for i in 0..n {
                let stride = if i == 0 { s } else { 1 };
                let hidden = py_round(c as f64 * t);
                if t != 1.0 {
                    params += c * hidden + 2 * hidden;
                    macs += (h * w * c * hidden) as u64;
                }
                let (ho, wo) = (self.out(h, stride), self.out(w, stride));
                params += 9 * hidden + 2 * hidden + hidden * out + 2 * out;
                macs += (ho * wo * hidden * 9 + ho * wo * hidden * out) as u64;
                (h, w, c) = (ho, wo, out);
                stages.push([h, w, c]);
            }
        }
        let last = make_divisible(1280.0 * self.width.max(1.0), self.round);
        params += c * last + 2 * last + last * self.classes + self.classes;
        macs += (h * w * c * last + last * self.classes) as u64;
        stages.push([h, w, last]);
        (stages, params, macs)
    }
}

fn spec() -> impl Strategy<Value = Gen> {
    let row = (
        prop_oneof![Just(1.0), Just(2.0), Just(3.0), Just(4.0), Just(6.0), Just(1.5), Just(0.5)],
        1usize..160,
        1usize..4,
        1usize..=2,
    );
    (
        1usize..97,
        1usize..97,
        any::<bool>(),
        0.1f64..2.0,
        prop_oneof![Just(1), Just(2), Just(4), Just(8)],
        1usize..1001,
        prop::collection::vec(row, 1..9),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(h, w, square, width, round, classes, rows, tf, memory)| Gen {
            h,
            w: if square { h } else { w },
            width: (width * 100.0).round() / 100.0,
            round,
            classes,
            rows,
            tf,
            memory,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_specs_compile_to_torchvision_shapes_and_valid_plans(g in spec()) {
        let text = g.yaml();
        let program = match compile_str("p.yaml", &text) {
            Ok(p) => p,
            // A row whose expansion rounds to 0 hidden channels is a located error, not a bug.
            Err(e) if e.to_string().contains("hidden channels") => return Ok(()),
            Err(e) => panic!("{text}\n{e}"),
        };
        let net = &program.network;
        let (stages, params, macs) = g.expected();
        let got: Vec<[usize; 3]> = net
            .layers
            .iter()
            .filter(|l| l.stage.is_some())
            .map(|l| [l.output_shape.h, l.output_shape.w, l.output_shape.c])
            .collect();
        prop_assert_eq!(&got, &stages, "{}", text);
        prop_assert_eq!(net.torch_params(), params, "{}", text);
        prop_assert_eq!(net.macs(), macs, "{}", text);
        common::check_program(&text, &program);
    }
}
