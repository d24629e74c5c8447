//! Runs a quantized network through the int8 kernels with run-time shapes, step by step as the
//! generated code does (the same schedule, memory plan and parameter blob), so tests can check
//! the kernels against the int8 reference interpreter on any spec without compiling a model.

use super::pack::{Packed, PackedLayer, Span};
use super::{QLayer, QuantizedNetwork, Requant};
use crate::ir::{Op, Value};
use crate::passes::fuse_blocks::Step;
use crate::passes::Program;
use mobilenet_kernels::int8::{self, BlockInput, Image, QBlockParams, QConv, QLinear, QShortcut};
use mobilenet_kernels::{split, Cpu, Threads};

/// The blob in 8-byte-aligned memory (a `Vec<u8>` promises no alignment for its i32 views).
struct Blob(Vec<u64>);

impl Blob {
    fn new(bytes: &[u8]) -> Blob {
        let mut words = vec![0u64; bytes.len().div_ceil(8)];
        bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
        Blob(words)
    }

    fn bytes(&self, (o, l): Span) -> &[u8] {
        &bytemuck::cast_slice::<u64, u8>(&self.0)[o..o + l]
    }
}

fn conv<'a>(blob: &'a Blob, p: &PackedLayer, q: &QLayer) -> QConv<'a> {
    let Requant::Levels { output, clamp, .. } = &q.requant else { panic!("a convolution requantizes to levels") };
    QConv {
        weight: int8::i8s(blob.bytes(p.weight)),
        bias: int8::i32s(blob.bytes(p.bias)),
        m: int8::i32s(blob.bytes(p.m)),
        shift: int8::i32s(blob.bytes(p.shift)),
        input_zero: q.input.zero_point,
        output_zero: output.zero_point,
        clamp: *clamp,
    }
}

fn shortcut<'a>(blob: &'a Blob, p: &PackedLayer, q: &QLayer) -> Option<QShortcut<'a>> {
    match (&q.requant, p.shortcut_m) {
        (Requant::Levels { residual: Some((r, _)), .. }, Some(m)) => {
            Some(QShortcut { zero: r.zero_point, m: int8::i32s(blob.bytes(m)) })
        }
        _ => None,
    }
}

/// What the kernels computed.
#[derive(Clone, Debug, PartialEq)]
pub struct Output {
    /// `("features.N", levels)` of every stage the plan materialises, in order.
    pub stages: Vec<(String, Vec<u8>)>,
    pub logits: Vec<f32>,
}

/// `q` on one HWC float image, through the kernels `cpu` selects on `threads` (`None`: one).
///
/// # Panics
/// On an input of the wrong length, or a schedule with chained blocks (int8 has none).
pub fn run(
    program: &Program,
    q: &QuantizedNetwork,
    packed: &Packed,
    input: &[f32],
    cpu: Cpu,
    mut threads: Option<&mut Threads>,
) -> Output {
    let net = &program.network;
    assert_eq!(input.len(), net.input.len(), "input length");
    let blob = Blob::new(&packed.blob);
    let params = |l: usize| packed.layers[l].as_ref().expect("a convolution has parameters");
    let count = threads.as_ref().map_or(1, |t| t.count());
    let stride = program.schedule.thread_scratch_len();
    let mut arena = vec![0u8; program.arena.size];
    let mut extra = vec![0u8; count.saturating_sub(1) * stride];
    let mut logits = vec![0.0f32; net.spec.num_classes];
    let region = |buffer: usize| program.arena.placements[buffer].region();
    let tensor = |t: usize| region(program.schedule.buffer_of(t).expect("materialised"));
    let image = Image::Floats { x: input, inverse_scale: q.image.inverse_scale(), zero_point: q.image.zero_point };
    let mut stages = Vec::new();
    for (k, step) in program.schedule.steps.iter().enumerate() {
        match step {
            Step::Layer(i) => {
                let (layer, ql) = (&net.layers[*i], &q.layers[*i]);
                let (s, o) = (layer.input_shape, layer.output_shape);
                match (layer.op, layer.input, layer.output) {
                    (Op::Stem, Value::Image, Value::Tensor(y)) => {
                        let [dst] = split(&mut arena, [tensor(y)]);
                        let c = conv(&blob, params(*i), ql);
                        int8::stem8_dyn(threads.as_deref_mut(), cpu, s.h, s.w, o.c, net.spec.padding, image, c, dst);
                    }
                    (Op::Pointwise { .. }, Value::Tensor(x), Value::Tensor(y)) => {
                        let c = conv(&blob, params(*i), ql);
                        let (px, t) = (s.h * s.w, threads.as_deref_mut());
                        match (layer.residual, shortcut(&blob, params(*i), ql)) {
                            (Some(r), Some(sc)) => {
                                let [src, res, dst] = split(&mut arena, [tensor(x), tensor(r), tensor(y)]);
                                int8::pointwise8_dyn(t, cpu, px, s.c, o.c, src, c, Some((&*res, sc)), dst);
                            }
                            _ => {
                                let [src, dst] = split(&mut arena, [tensor(x), tensor(y)]);
                                int8::pointwise8_dyn(t, cpu, px, s.c, o.c, src, c, None, dst);
                            }
                        }
                    }
                    (Op::AvgPool, Value::Tensor(x), Value::Tensor(y)) => {
                        let [src, dst] = split(&mut arena, [tensor(x), tensor(y)]);
                        int8::avg_pool8_dyn(s.h * s.w, s.c, src, dst);
                    }
                    (Op::Linear, Value::Tensor(x), Value::Logits) => {
                        let p = params(*i);
                        let Requant::Logits { .. } = ql.requant else { panic!("the classifier writes logits") };
                        let lin = QLinear {
                            weight: int8::i8s(blob.bytes(p.weight)),
                            bias: int8::i32s(blob.bytes(p.bias)),
                            scales: int8::f32s(blob.bytes(p.scales.expect("logit scales"))),
                            input_zero: ql.input.zero_point,
                        };
                        let [src] = split(&mut arena, [tensor(x)]);
                        int8::linear8_dyn(threads.as_deref_mut(), cpu, s.c, o.c, src, lin, &mut logits);
                    }
                    other => panic!("no int8 kernel for layer {i}: {other:?}"),
                }
            }
            Step::Block(b) => {
                let scratch = region(program.schedule.scratch_of(k).expect("a block has scratch"));
                let part = |l: Option<usize>| l.map(|l| conv(&blob, params(l), &q.layers[l]));
                let p = QBlockParams {
                    stem: part(b.stem),
                    expand: part(b.expand),
                    depthwise: conv(&blob, params(b.depthwise), &q.layers[b.depthwise]),
                    project: conv(&blob, params(b.project), &q.layers[b.project]),
                    shortcut: shortcut(&blob, params(b.project), &q.layers[b.project]),
                };
                match b.input {
                    Value::Image => {
                        let [dst, scr] = split(&mut arena, [tensor(b.output), scratch]);
                        let x = BlockInput::Image(image);
                        int8::block8_dyn(threads.as_deref_mut(), cpu, &b.dims, x, dst, p, scr, &mut extra, stride);
                    }
                    Value::Tensor(t) => {
                        let [src, dst, scr] = split(&mut arena, [tensor(t), tensor(b.output), scratch]);
                        let x = BlockInput::Levels(src);
                        int8::block8_dyn(threads.as_deref_mut(), cpu, &b.dims, x, dst, p, scr, &mut extra, stride);
                    }
                    Value::Logits => panic!("a block reads the logits"),
                }
            }
            Step::Chain(_) => panic!("int8 schedules have no chained blocks"),
        }
        let last = match step {
            Step::Layer(i) => &net.layers[*i],
            Step::Block(b) => &net.layers[b.project],
            Step::Chain(_) => unreachable!(),
        };
        if let (Some(n), Value::Tensor(t)) = (last.stage, last.output) {
            let (o, l) = tensor(t);
            stages.push((format!("features.{n}"), arena[o..o + l].to_vec()));
        }
    }
    Output { stages, logits }
}
