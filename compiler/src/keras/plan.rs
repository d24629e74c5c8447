//! Matches the flattened Keras layers, in order, against `keras.applications.MobileNetV2`
//! (input, `Conv1`, the inverted-residual blocks `expanded_conv_*` and `block_N_*`, `Conv_1`,
//! then global average pooling, optional dropout and a Dense classifier) and records the
//! channel counts, strides and the layers that hold weights. The first layer that does not fit
//! (missing, extra, renamed, of another type, configured differently, fed from elsewhere) is
//! an error that names it.

use super::config::{unfit, Cfg, Flat, Layer};
use crate::spec::{MAX_CHANNELS, MAX_CLASSES, MAX_RESOLUTION};
use crate::Error;
use serde_json::Value;

/// A layer holding weights, and where to find them.
#[derive(Clone, Debug)]
pub struct WeightLayer {
    pub name: String,
    pub h5_group: String,
    pub keras_group: String,
}

/// The three kinds of convolution MobileNetV2 has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conv {
    /// `Conv1`: 3x3, stride 2, 3 input channels.
    Stem,
    /// 1x1 expand, project and `Conv_1`.
    Pointwise,
    /// 3x3 depthwise.
    Depthwise,
}

/// A convolution and the BatchNorm after it.
#[derive(Clone, Debug)]
pub struct ConvBn {
    pub kind: Conv,
    pub conv: WeightLayer,
    pub bn: WeightLayer,
    pub cin: usize,
    pub cout: usize,
    pub stride: usize,
}

impl ConvBn {
    /// The Keras kernel shape: HWIO, or `[3, 3, C, 1]` for depthwise.
    pub fn kernel_shape(&self) -> [usize; 4] {
        match self.kind {
            Conv::Stem => [3, 3, self.cin, self.cout],
            Conv::Pointwise => [1, 1, self.cin, self.cout],
            Conv::Depthwise => [3, 3, self.cin, 1],
        }
    }
}

/// One inverted-residual block.
#[derive(Clone, Debug)]
pub struct Block {
    /// `None` for the first block (expansion 1).
    pub expand: Option<ConvBn>,
    pub depthwise: ConvBn,
    pub project: ConvBn,
    pub stride: usize,
}

/// What the importer needs to know about the model.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The model holding `Conv1`, e.g. `mobilenetv2_0.50_128`.
    pub model: String,
    pub height: usize,
    pub width: usize,
    pub stem: ConvBn,
    pub blocks: Vec<Block>,
    pub last: ConvBn,
    pub classifier: WeightLayer,
    pub classes: usize,
    /// Whether the classifier ends in a softmax (the imported network returns the logits).
    pub softmax: bool,
    pub bn_eps: f64,
}

/// Match `flat` against MobileNetV2, with the input size `resolution` if the model leaves it
/// open (else `resolution` must be the size it fixes).
pub fn plan(flat: &Flat, resolution: Option<(usize, usize)>) -> Result<Plan, Error> {
    let mut m = Matcher { layers: &flat.layers, pos: 0, prev: None, h: 0, w: 0, channels: 0, bn_eps: None };
    let input = m.next(None, &["InputLayer"], "an InputLayer")?;
    let (height, width) = match (input_shape(input), resolution) {
        (Ok((h, w)), Some(r)) if (h, w) != r => {
            return Err(Error::new(format!(
                "input layer `{}` fixes the input at {h}x{w}, but --resolution asks for {}x{}; leave --resolution out (it sizes models saved without a fixed input size)",
                input.name, r.0, r.1
            )))
        }
        (Ok(hw), _) => hw,
        (Err(Unfixed(_)), Some(r)) if (1..=MAX_RESOLUTION).contains(&(r.0 as u64)) && (1..=MAX_RESOLUTION).contains(&(r.1 as u64)) => r,
        (Err(Unfixed(e)), Some(_)) => {
            return Err(Error::new(format!("--resolution must give sides from 1 to {MAX_RESOLUTION} ({e})")))
        }
        (Err(Unfixed(e)) | Err(Other(e)), _) => return Err(e),
    };
    (m.h, m.w, m.channels) = (height, width, 3);
    let model = m.peek().map(|l| l.model.clone()).unwrap_or_default();
    let stem = m.conv_bn("Conv1", "bn_Conv1", Conv::Stem, Some("Conv1_pad"), "")?;
    m.relu6("Conv1_relu")?;
    let mut blocks = Vec::new();
    loop {
        let prefix = if blocks.is_empty() { "expanded_conv_".to_string() } else { format!("block_{}_", blocks.len()) };
        if !blocks.is_empty() && m.peek().is_none_or(|l| l.name != format!("{prefix}expand")) {
            break;
        }
        blocks.push(m.block(&prefix)?);
    }
    let or_block = format!("`block_{}_expand` (Conv2D 1x1) or ", blocks.len());
    let last = m.conv_bn("Conv_1", "Conv_1_bn", Conv::Pointwise, None, &or_block)?;
    m.relu6("out_relu")?;
    let (classifier, classes, softmax) = m.head()?;
    if let Some(extra) = m.peek() {
        return Err(m.misfit(extra, "nothing more: the model ends at its classifier"));
    }
    if m.prev.as_deref() != Some(flat.output.as_str()) {
        let out = flat.output.split_once('/').map_or(flat.output.as_str(), |(_, n)| n);
        return Err(Error::new(format!(
            "the model's output is `{out}`, not its classifier `{}`; MobileNetV2 has one output, the logits",
            classifier.name
        )));
    }
    // Keras's default epsilon, should a model hold no BatchNorm (it cannot get this far).
    let bn_eps = m.bn_eps.map_or(1e-3, |(eps, _)| eps);
    Ok(Plan { model, height, width, stem, blocks, last, classifier, classes, softmax, bn_eps })
}

/// Why an InputLayer gives no size: it leaves height and width open (`--resolution` can give
/// them), or something else is wrong.
enum NoSize {
    Unfixed(Error),
    Other(Error),
}
use NoSize::{Other, Unfixed};

/// `(H, W)` of an InputLayer (`batch_shape` in Keras 3, `batch_input_shape` in Keras 2).
fn input_shape(l: &Layer) -> Result<(usize, usize), NoSize> {
    let shape = l.config.get("batch_shape").or_else(|| l.config.get("batch_input_shape"));
    let shown = shape.map_or_else(|| "none".to_string(), Value::to_string);
    let dims: Vec<Option<usize>> = shape
        .and_then(Value::as_array)
        .map(|d| d.iter().map(|v| v.as_u64().and_then(|v| usize::try_from(v).ok())).collect())
        .unwrap_or_default();
    match dims.as_slice() {
        [_, Some(h), Some(w), Some(3)] if (1..=MAX_RESOLUTION).contains(&(*h as u64)) && (1..=MAX_RESOLUTION).contains(&(*w as u64)) => {
            Ok((*h, *w))
        }
        [_, Some(_), Some(_), Some(3)] => Err(Other(Error::new(format!(
            "input layer `{}` has shape {shown}; the compiler takes heights and widths from 1 to {MAX_RESOLUTION}",
            l.name
        )))),
        [_, _, _, Some(c)] if *c != 3 => Err(Other(Error::new(format!(
            "input layer `{}` has shape {shown}, with {c} input channels; MobileNetV2 takes 3 (RGB, channels last)",
            l.name
        )))),
        [_, _, _, _] => Err(Unfixed(Error::new(format!(
            "input layer `{}` has shape {shown}: its height and width are not fixed; give the size to compile for with --resolution H or HxW (or save the model with input_shape=(H, W, 3))",
            l.name
        )))),
        _ => Err(Other(Error::new(format!(
            "input layer `{}` has no [batch, height, width, channels] shape (found {shown})",
            l.name
        )))),
    }
}

fn names(ids: &[String]) -> String {
    if ids.is_empty() {
        return "nothing".to_string();
    }
    let names: Vec<String> =
        ids.iter().map(|id| format!("`{}`", id.split_once('/').map_or(id.as_str(), |(_, n)| n))).collect();
    names.join(" and ")
}

/// TensorFlow "SAME" padding (before, after) of a 3x3 kernel with `stride` over `n` pixels.
fn same_pads(n: usize, stride: usize) -> (usize, usize) {
    let out = n.div_ceil(stride);
    let total = ((out.max(1) - 1) * stride + 3).saturating_sub(n);
    (total / 2, total - total / 2)
}

fn weight_layer(l: &Layer) -> WeightLayer {
    WeightLayer { name: l.name.clone(), h5_group: l.h5_group.clone(), keras_group: l.keras_group.clone() }
}

struct Matcher<'a> {
    layers: &'a [Layer],
    pos: usize,
    /// The layer whose output the next layer must take.
    prev: Option<String>,
    /// Height, width and channels of that output.
    h: usize,
    w: usize,
    channels: usize,
    /// The first BatchNorm's epsilon and name: all must agree.
    bn_eps: Option<(f64, String)>,
}

impl<'a> Matcher<'a> {
    fn peek(&self) -> Option<&'a Layer> {
        self.layers.get(self.pos)
    }

    fn misfit(&self, l: &Layer, want: &str) -> Error {
        Error::new(format!(
            "layer `{}` ({}, in model `{}`) does not fit MobileNetV2: expected {want} here",
            l.name, l.class, l.model
        ))
    }

    /// Take the next layer: named `name` (any name if `None`), of one of `classes`, fed by the
    /// previous one. `want` describes it for messages.
    fn next(&mut self, name: Option<&str>, classes: &[&str], want: &str) -> Result<&'a Layer, Error> {
        let Some(l) = self.peek() else {
            let after = self.layers.last().map_or_else(|| "its input".to_string(), |l| format!("`{}`", l.name));
            return Err(Error::new(format!("the model ends after {after}; MobileNetV2 needs {want} next")));
        };
        if name.is_some_and(|n| n != l.name) || !classes.contains(&l.class.as_str()) {
            return Err(self.misfit(l, want));
        }
        let expected: Vec<String> = self.prev.iter().cloned().collect();
        if l.inputs != expected {
            let what =
                format!("it takes its input from {}; MobileNetV2 feeds it from {}", names(&l.inputs), names(&expected));
            return Err(unfit(l, what));
        }
        self.pos += 1;
        self.prev = Some(l.id.clone());
        Ok(l)
    }

    /// A convolution (after its `pad` layer, if the model has one) and its BatchNorm. `alt`
    /// names what else could come here, for messages.
    fn conv_bn(&mut self, conv: &str, bn: &str, kind: Conv, pad: Option<&str>, alt: &str) -> Result<ConvBn, Error> {
        let pads = match pad {
            Some(p) if self.peek().is_some_and(|l| l.name == p) => Some((p, self.zero_pad(p)?)),
            _ => None,
        };
        let (class, what) = match kind {
            Conv::Stem => ("Conv2D", "Conv2D 3x3, stride 2"),
            Conv::Pointwise => ("Conv2D", "Conv2D 1x1"),
            Conv::Depthwise => ("DepthwiseConv2D", "DepthwiseConv2D 3x3"),
        };
        let l = self.next(Some(conv), &[class], &format!("{alt}`{conv}` ({what})"))?;
        let cfg = Cfg(l);
        let k = if kind == Conv::Pointwise { 1 } else { 3 };
        cfg.expect_pair("kernel_size", 0, k)?;
        cfg.expect_pair("dilation_rate", 1, 1)?;
        cfg.expect_bool("use_bias", false)?;
        cfg.expect_str("activation", &["linear"])?;
        cfg.expect_str("data_format", &["channels_last"])?;
        let (sh, sw) = cfg.pair("strides", 1)?;
        let stride = match (kind, sh, sw) {
            (Conv::Stem, 2, 2) | (Conv::Pointwise, 1, 1) | (Conv::Depthwise, 1 | 2, _) if sh == sw => sh as usize,
            _ => {
                let want = match kind {
                    Conv::Stem => "[2, 2]",
                    Conv::Pointwise => "[1, 1]",
                    Conv::Depthwise => "[1, 1] or [2, 2]",
                };
                return Err(cfg.fail("strides", want));
            }
        };
        let cout = match kind {
            Conv::Depthwise => {
                cfg.expect_pair("depth_multiplier", 1, 1)?;
                self.channels
            }
            _ => {
                if cfg.get("groups").and_then(Value::as_u64).is_some_and(|g| g != 1) {
                    return Err(cfg.fail("groups", "1"));
                }
                cfg.count("filters", MAX_CHANNELS)?
            }
        };
        if k == 3 {
            self.check_padding(l, stride, pads)?;
        }
        let (h, w) = (self.h.div_ceil(stride), self.w.div_ceil(stride));
        let conv = weight_layer(l);
        let cin = self.channels;
        (self.h, self.w, self.channels) = (h, w, cout);
        let bn = self.batch_norm(bn)?;
        Ok(ConvBn { kind, conv, bn, cin, cout, stride })
    }

    /// A 3x3 convolution must pad as TensorFlow's "SAME" does (`padding: tf`): by itself, or
    /// as "valid" after a ZeroPadding2D (`pads`: its name and pads) of exactly those pads.
    fn check_padding(&self, l: &Layer, stride: usize, pads: Option<(&str, [usize; 4])>) -> Result<(), Error> {
        let cfg = Cfg(l);
        let (top, bottom) = same_pads(self.h, stride);
        let (left, right) = same_pads(self.w, stride);
        let same = [top, bottom, left, right];
        match pads {
            None => cfg.expect_str("padding", &["same"]),
            Some((_, p)) if p == same => cfg.expect_str("padding", &["valid"]),
            Some((pad, p)) => Err(Error::new(format!(
                "layer `{pad}` (ZeroPadding2D) does not fit MobileNetV2: it pads {p:?} (top, bottom, left, right) before `{}` on a {}x{} input, where TensorFlow's \"SAME\" padding (`padding: tf`) is {same:?}",
                l.name, self.h, self.w
            ))),
        }
    }

    /// A ZeroPadding2D: its pads as [top, bottom, left, right].
    fn zero_pad(&mut self, name: &str) -> Result<[usize; 4], Error> {
        let l = self.next(Some(name), &["ZeroPadding2D"], &format!("`{name}` (ZeroPadding2D)"))?;
        let cfg = Cfg(l);
        cfg.expect_str("data_format", &["channels_last"])?;
        let v = cfg.get("padding");
        let n = |v: &Value| v.as_u64().and_then(|v| usize::try_from(v).ok());
        let pads = match v {
            Some(v) if n(v).is_some() => n(v).map(|p| [p; 4]),
            Some(Value::Array(a)) => match a.as_slice() {
                [h, w] if n(h).is_some() && n(w).is_some() => n(h).zip(n(w)).map(|(h, w)| [h, h, w, w]),
                [Value::Array(h), Value::Array(w)] => match (h.as_slice(), w.as_slice()) {
                    ([t, b], [l, r]) => {
                        [t, b, l, r].map(n).into_iter().collect::<Option<Vec<_>>>().and_then(|p| p.try_into().ok())
                    }
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        };
        pads.ok_or_else(|| cfg.fail("padding", "((top, bottom), (left, right))"))
    }

    fn batch_norm(&mut self, name: &str) -> Result<WeightLayer, Error> {
        let l = self.next(Some(name), &["BatchNormalization"], &format!("`{name}` (BatchNormalization)"))?;
        let cfg = Cfg(l);
        // `center` and `scale` on: the weights file then holds gamma, beta, mean, variance.
        cfg.expect_bool("center", true)?;
        cfg.expect_bool("scale", true)?;
        let axis_ok = match cfg.get("axis") {
            None => true,
            Some(Value::Array(a)) => matches!(a.as_slice(), [v] if matches!(v.as_i64(), Some(-1 | 3))),
            Some(v) => matches!(v.as_i64(), Some(-1 | 3)),
        };
        if !axis_ok {
            return Err(cfg.fail("axis", "-1 (channels last)"));
        }
        let eps = cfg.number("epsilon").unwrap_or(1e-3);
        if !(eps > 0.0 && eps <= 1.0) {
            return Err(cfg.fail("epsilon", "a number in (0, 1]"));
        }
        match &self.bn_eps {
            None => self.bn_eps = Some((eps, l.name.clone())),
            Some((first, first_name)) if *first != eps => {
                return Err(unfit(
                    l,
                    format!("its epsilon is {eps}, but `{first_name}`'s is {first}; the compiler takes one `bn_eps` for the whole network"),
                ))
            }
            Some(_) => {}
        }
        Ok(weight_layer(l))
    }

    /// ReLU capped at 6: `ReLU(6.)`, or `Activation("relu6")`.
    fn relu6(&mut self, name: &str) -> Result<(), Error> {
        let l = self.next(Some(name), &["ReLU", "Activation"], &format!("`{name}` (ReLU, max 6)"))?;
        let cfg = Cfg(l);
        let ok = if l.class == "ReLU" {
            cfg.number("max_value") == Some(6.0)
                && cfg.number("negative_slope").unwrap_or(0.0) == 0.0
                && cfg.number("threshold").unwrap_or(0.0) == 0.0
        } else {
            cfg.get("activation").and_then(Value::as_str) == Some("relu6")
        };
        if !ok {
            return Err(unfit(l, "MobileNetV2 clips at 6 here (ReLU with max_value 6, no slope, threshold 0)".into()));
        }
        Ok(())
    }

    fn block(&mut self, prefix: &str) -> Result<Block, Error> {
        let input = self.prev.clone();
        let cin = self.channels;
        let expand = if prefix == "expanded_conv_" {
            None
        } else {
            let e =
                self.conv_bn(&format!("{prefix}expand"), &format!("{prefix}expand_BN"), Conv::Pointwise, None, "")?;
            self.relu6(&format!("{prefix}expand_relu"))?;
            Some(e)
        };
        let (dw, dw_bn, pad) = (format!("{prefix}depthwise"), format!("{prefix}depthwise_BN"), format!("{prefix}pad"));
        let depthwise = self.conv_bn(&dw, &dw_bn, Conv::Depthwise, Some(&pad), "")?;
        let stride = depthwise.stride;
        self.relu6(&format!("{prefix}depthwise_relu"))?;
        let project =
            self.conv_bn(&format!("{prefix}project"), &format!("{prefix}project_BN"), Conv::Pointwise, None, "")?;
        let add = format!("{prefix}add");
        let residual = stride == 1 && cin == project.cout;
        match (residual, self.peek()) {
            (false, Some(l)) if l.class == "Add" => Err(unfit(
                l,
                format!(
                    "its block has stride {stride} and {cin} -> {} channels, so MobileNetV2 has no residual Add here",
                    project.cout
                ),
            )),
            (false, _) => Ok(()),
            (true, None) => Err(Error::new(format!(
                "the model ends before `{add}`, the residual Add of a block that keeps stride 1 and {cin} channels"
            ))),
            (true, Some(l)) => {
                let mut got = l.inputs.clone();
                let mut want: Vec<String> = input.into_iter().chain(self.prev.clone()).collect();
                got.sort();
                want.sort();
                if l.name != add || l.class != "Add" {
                    Err(self.misfit(l, &format!("`{add}` (Add: the block keeps stride 1 and {cin} channels)")))
                } else if got != want {
                    Err(unfit(l, format!("it adds {}; MobileNetV2 adds {}", names(&got), names(&want))))
                } else {
                    self.pos += 1;
                    self.prev = Some(l.id.clone());
                    Ok(())
                }
            }
        }?;
        Ok(Block { expand, depthwise, project, stride })
    }

    /// GlobalAveragePooling2D, any Dropout, Dense, and optionally a softmax Activation.
    fn head(&mut self) -> Result<(WeightLayer, usize, bool), Error> {
        if self.peek().is_none() {
            return Err(Error::new(
                "the model ends at `out_relu` without a classifier (built with include_top=False?); the compiler needs GlobalAveragePooling2D and a Dense layer after it",
            ));
        }
        let pool = self.next(None, &["GlobalAveragePooling2D"], "GlobalAveragePooling2D")?;
        Cfg(pool).expect_bool("keepdims", false)?;
        Cfg(pool).expect_str("data_format", &["channels_last"])?;
        // Dropout passes its input through at inference.
        while let Some(l) = self.peek().filter(|l| l.class.ends_with("Dropout")) {
            self.next(None, &[l.class.as_str()], "Dropout")?;
        }
        let dense = self.next(None, &["Dense"], "a Dense classifier")?;
        let cfg = Cfg(dense);
        let classes = cfg.count("units", MAX_CLASSES)?;
        cfg.expect_bool("use_bias", true)?;
        cfg.expect_str("activation", &["linear", "softmax"])?;
        let mut softmax = cfg.get("activation").and_then(Value::as_str) == Some("softmax");
        let classifier = weight_layer(dense);
        if let Some(l) = self.peek().filter(|l| l.class == "Activation" || l.class == "Softmax") {
            let act =
                if l.class == "Softmax" { Some("softmax") } else { l.config.get("activation").and_then(Value::as_str) };
            if !matches!(act, Some("softmax" | "linear")) {
                return Err(unfit(l, "only a softmax (or linear) activation may follow the classifier".into()));
            }
            self.next(None, &[l.class.as_str()], "a softmax")?;
            softmax |= act == Some("softmax");
        }
        Ok((classifier, classes, softmax))
    }
}
