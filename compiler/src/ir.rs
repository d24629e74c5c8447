//! The layer IR: every layer of the network in execution order, with its tensors' shapes.

use crate::spec::Spec;
use mobilenet_kernels::ParamKind;

/// An activation tensor's shape, channels last (HWC).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub h: usize,
    pub w: usize,
    pub c: usize,
}

impl Shape {
    pub const fn len(self) -> usize {
        self.h * self.w * self.c
    }

    pub const fn is_empty(self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}x{}", self.h, self.w, self.c)
    }
}

/// Index into `Network::tensors`.
pub type TensorId = usize;

/// Where a layer reads or writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value {
    /// The caller's input image.
    Image,
    /// An activation in the arena.
    Tensor(TensorId),
    /// The caller's logits slice.
    Logits,
}

impl Value {
    /// The arena tensor, if this is one.
    pub fn tensor(self) -> Option<TensorId> {
        match self {
            Value::Tensor(t) => Some(t),
            Value::Image | Value::Logits => None,
        }
    }
}

/// What a layer computes. BatchNorm is part of the convolution ops (folded into the weights by `mobilenet_kernels::checkpoint`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// 3x3 stride-2 convolution of the image, BN, ReLU6.
    Stem,
    /// 1x1 convolution, BN, then ReLU6 if `relu`; adds the layer's `residual` if it has one.
    Pointwise { relu: bool },
    /// 3x3 depthwise convolution, BN, ReLU6.
    Depthwise { stride: usize },
    /// Global average pooling.
    AvgPool,
    /// Fully connected classifier.
    Linear,
}

/// One layer in execution order.
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    pub op: Op,
    pub input: Value,
    pub input_shape: Shape,
    pub output: Value,
    pub output_shape: Shape,
    /// Tensor added to the output (the inverted-residual shortcut).
    pub residual: Option<TensorId>,
    /// torchvision prefix of the weight tensor (`features.0.0`, `classifier.1`, ...).
    pub conv: Option<String>,
    /// torchvision prefix of the BatchNorm after it.
    pub bn: Option<String>,
    /// Set on the last layer of `features.N`: its output is that stage's output.
    pub stage: Option<usize>,
}

impl Layer {
    /// The layer's parameters, if it has any.
    pub fn param_kind(&self) -> Option<ParamKind> {
        let (i, o) = (self.input_shape, self.output_shape);
        match self.op {
            Op::Stem => Some(ParamKind::Stem { cout: o.c }),
            Op::Pointwise { .. } => Some(ParamKind::Pointwise { cin: i.c, cout: o.c }),
            Op::Depthwise { .. } => Some(ParamKind::Depthwise { channels: o.c }),
            Op::Linear => Some(ParamKind::Linear { cin: i.c, cout: o.c }),
            Op::AvgPool => None,
        }
    }

    /// The activations the layer reads (input, shortcut), then the one it writes.
    pub fn tensors(&self) -> impl Iterator<Item = TensorId> {
        [self.input.tensor(), self.residual, self.output.tensor()].into_iter().flatten()
    }

    /// Parameters as torchvision counts them (BatchNorm weight and bias included).
    pub fn torch_params(&self) -> usize {
        match self.param_kind() {
            Some(ParamKind::Linear { cin, cout }) => cin * cout + cout,
            Some(k) => k.torch_shape().iter().product::<usize>() + 2 * k.cout(),
            None => 0,
        }
    }

    /// Multiply-accumulates.
    pub fn macs(&self) -> u64 {
        let (i, o) = (self.input_shape, self.output_shape);
        let out_px = (o.h * o.w) as u64;
        match self.op {
            Op::Stem => out_px * o.c as u64 * 27,
            Op::Pointwise { .. } => out_px * i.c as u64 * o.c as u64,
            Op::Depthwise { .. } => out_px * o.c as u64 * 9,
            Op::Linear => i.c as u64 * o.c as u64,
            Op::AvgPool => 0,
        }
    }

    /// Short description for tables, e.g. `dw3x3/2`.
    pub fn kind_name(&self) -> String {
        match self.op {
            Op::Stem => "conv3x3/2".into(),
            Op::Pointwise { relu: true } => "conv1x1+relu6".into(),
            Op::Pointwise { relu: false } if self.residual.is_some() => "conv1x1+add".into(),
            Op::Pointwise { relu: false } => "conv1x1".into(),
            Op::Depthwise { stride } => format!("dw3x3/{stride}"),
            Op::AvgPool => "avgpool".into(),
            Op::Linear => "linear".into(),
        }
    }
}

/// The whole network, shapes inferred.
#[derive(Clone, Debug, PartialEq)]
pub struct Network {
    pub spec: Spec,
    pub input: Shape,
    pub tensors: Vec<Shape>,
    pub layers: Vec<Layer>,
    /// Number of `features.N` stages (stem, blocks, last conv).
    pub stages: usize,
}

impl Network {
    pub fn torch_params(&self) -> usize {
        self.layers.iter().map(Layer::torch_params).sum()
    }

    pub fn macs(&self) -> u64 {
        self.layers.iter().map(Layer::macs).sum()
    }

    pub fn num_classes(&self) -> usize {
        self.spec.num_classes
    }
}
