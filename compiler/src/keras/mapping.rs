//! Keras tensors to torchvision's `state_dict`: where each Keras variable is stored in either
//! file format, its torchvision name (`features.N...`, `classifier.1`), its layout (HWIO conv
//! kernels and `[3, 3, C, 1]` depthwise kernels to OIHW, Dense `[in, out]` to `[out, in]`), and
//! the safetensors file holding them.

use super::archive::{Format, Source};
use super::plan::{Conv, ConvBn, Plan, WeightLayer};
use crate::ir::{Network, Op};
use crate::Error;
use safetensors::tensor::TensorView;
use safetensors::Dtype;

/// A tensor under its torchvision name and shape, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// A Keras variable of a layer.
#[derive(Clone, Copy, Debug)]
enum Var {
    Kernel,
    Bias,
    Gamma,
    Beta,
    MovingMean,
    MovingVariance,
}

impl Var {
    /// Position in a `.keras` file's `vars` group: the order the layer creates its variables.
    fn index(self) -> usize {
        match self {
            Var::Kernel | Var::Gamma => 0,
            Var::Bias | Var::Beta => 1,
            Var::MovingMean => 2,
            Var::MovingVariance => 3,
        }
    }

    /// Dataset names in a legacy `.h5` (Keras 2 adds `:0`; its depthwise kernel has its own name).
    fn h5_names(self) -> &'static [&'static str] {
        match self {
            Var::Kernel => &["kernel", "kernel:0", "depthwise_kernel", "depthwise_kernel:0"],
            Var::Bias => &["bias", "bias:0"],
            Var::Gamma => &["gamma", "gamma:0"],
            Var::Beta => &["beta", "beta:0"],
            Var::MovingMean => &["moving_mean", "moving_mean:0"],
            Var::MovingVariance => &["moving_variance", "moving_variance:0"],
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Var::Kernel => "kernel",
            Var::Bias => "bias",
            Var::Gamma => "gamma",
            Var::Beta => "beta",
            Var::MovingMean => "moving_mean",
            Var::MovingVariance => "moving_variance",
        }
    }
}

/// Reads one layer's variables from a model file.
struct Reader<'a> {
    src: &'a Source,
}

impl Reader<'_> {
    /// Check that the `.keras` group computed for `layer` is the one Keras wrote for it (recent
    /// Keras versions store the layer's name there).
    fn check_group(&self, layer: &WeightLayer) -> Result<(), Error> {
        if self.src.format != Format::Keras {
            return Ok(());
        }
        let vars = format!("{}/vars", layer.keras_group);
        if !self.src.weights.has_group(&vars)? {
            return Err(Error::new(format!(
                "layer `{}`: {} has no `{vars}` group for its weights; the config and the weights file do not belong together",
                layer.name,
                self.src.weights.what()
            )));
        }
        match self.src.weights.string_attr(&vars, "name")? {
            Some(found) if found != layer.name => Err(Error::new(format!(
                "layer `{}`: {} keeps `{found}`'s weights where this layer's belong (`{vars}`); the config and the weights file do not belong together",
                layer.name,
                self.src.weights.what()
            ))),
            _ => Ok(()),
        }
    }

    fn read(&self, layer: &WeightLayer, var: Var, shape: &[usize]) -> Result<Vec<f32>, Error> {
        let fail = |e: Error| Error::new(format!("layer `{}`, {}: {}", layer.name, var.describe(), e.message));
        let path = match self.src.format {
            Format::Keras => format!("{}/vars/{}", layer.keras_group, var.index()),
            Format::LegacyH5 => {
                let mut found = None;
                for name in var.h5_names() {
                    let path = format!("{}/{name}", layer.h5_group);
                    if self.src.weights.shape(&path).map_err(fail)?.is_some() {
                        found = Some(path);
                        break;
                    }
                }
                found.ok_or_else(|| {
                    Error::new(format!(
                        "layer `{}`: {} has no {} for it (looked in `/{}`); the config and the weights do not belong together",
                        layer.name,
                        self.src.weights.what(),
                        var.describe(),
                        layer.h5_group
                    ))
                })?
            }
        };
        match self.src.weights.shape(&path).map_err(fail)? {
            Some(found) if found != shape => Err(Error::new(format!(
                "layer `{}`: its {} has shape {found:?} in {} (`/{path}`), but the model config makes it {shape:?}",
                layer.name,
                var.describe(),
                self.src.weights.what()
            ))),
            None => Err(Error::new(format!(
                "layer `{}`: {} has no {} for it (`/{path}`); the config and the weights file do not belong together",
                layer.name,
                self.src.weights.what(),
                var.describe()
            ))),
            Some(_) => self.src.weights.read_f32(&path, shape).map_err(fail),
        }
    }

    /// A convolution's kernel in OIHW and its BatchNorm's four vectors, under `conv` and `bn`.
    fn conv_bn(&self, unit: &ConvBn, conv: &str, bn: &str, out: &mut Vec<Tensor>) -> Result<(), Error> {
        self.check_group(&unit.conv)?;
        let shape = unit.kernel_shape();
        let kernel = self.read(&unit.conv, Var::Kernel, &shape)?;
        let data = hwio_to_oihw(&kernel, shape);
        let torch_shape = match unit.kind {
            Conv::Depthwise => vec![unit.cin, 1, 3, 3],
            Conv::Stem | Conv::Pointwise => vec![shape[3], shape[2], shape[0], shape[1]],
        };
        out.push(Tensor { name: format!("{conv}.weight"), shape: torch_shape, data });
        self.check_group(&unit.bn)?;
        let c = unit.cout;
        for (var, field) in [
            (Var::Gamma, "weight"),
            (Var::Beta, "bias"),
            (Var::MovingMean, "running_mean"),
            (Var::MovingVariance, "running_var"),
        ] {
            let data = self.read(&unit.bn, var, &[c])?;
            out.push(Tensor { name: format!("{bn}.{field}"), shape: vec![c], data });
        }
        Ok(())
    }
}

/// HWIO `[kh, kw, ci, co]` to OIHW `[co, ci, kh, kw]`. A depthwise kernel `[3, 3, C, 1]` comes
/// out as `[1, C, 3, 3]`: the same memory as torchvision's `[C, 1, 3, 3]`.
fn hwio_to_oihw(data: &[f32], [kh, kw, ci, co]: [usize; 4]) -> Vec<f32> {
    let mut out = vec![0f32; data.len()];
    for y in 0..kh {
        for x in 0..kw {
            for i in 0..ci {
                for o in 0..co {
                    out[((o * ci + i) * kh + y) * kw + x] = data[((y * kw + x) * ci + i) * co + o];
                }
            }
        }
    }
    out
}

/// Dense `[in, out]` to Linear `[out, in]`.
fn transpose(data: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0f32; data.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = data[r * cols + c];
        }
    }
    out
}

/// Every tensor of the model under torchvision's names, in network order.
pub fn tensors(plan: &Plan, src: &Source) -> Result<Vec<Tensor>, Error> {
    let reader = Reader { src };
    let mut out = Vec::new();
    reader.conv_bn(&plan.stem, "features.0.0", "features.0.1", &mut out)?;
    for (i, block) in plan.blocks.iter().enumerate() {
        let f = format!("features.{}.conv", i + 1);
        // torchvision's InvertedResidual numbers its `conv` children; without the expand
        // layer everything moves up by one.
        let k = match &block.expand {
            Some(expand) => {
                reader.conv_bn(expand, &format!("{f}.0.0"), &format!("{f}.0.1"), &mut out)?;
                1
            }
            None => 0,
        };
        reader.conv_bn(&block.depthwise, &format!("{f}.{k}.0"), &format!("{f}.{k}.1"), &mut out)?;
        reader.conv_bn(&block.project, &format!("{f}.{}", k + 1), &format!("{f}.{}", k + 2), &mut out)?;
    }
    let last = plan.blocks.len() + 1;
    reader.conv_bn(&plan.last, &format!("features.{last}.0"), &format!("features.{last}.1"), &mut out)?;
    reader.check_group(&plan.classifier)?;
    let (cin, classes) = (plan.last.cout, plan.classes);
    let kernel = reader.read(&plan.classifier, Var::Kernel, &[cin, classes])?;
    let bias = reader.read(&plan.classifier, Var::Bias, &[classes])?;
    out.push(Tensor {
        name: "classifier.1.weight".into(),
        shape: vec![classes, cin],
        data: transpose(&kernel, cin, classes),
    });
    out.push(Tensor { name: "classifier.1.bias".into(), shape: vec![classes], data: bias });
    Ok(out)
}

/// The names and shapes of the tensors the compiler reads for `net` (what `init-weights`
/// writes, less `num_batches_tracked`), in network order.
pub fn expected(net: &Network) -> Vec<(String, Vec<usize>)> {
    let mut out = Vec::new();
    for layer in &net.layers {
        let (Some(conv), Some(kind)) = (&layer.conv, layer.param_kind()) else { continue };
        out.push((format!("{conv}.weight"), kind.torch_shape()));
        if layer.op == Op::Linear {
            out.push((format!("{conv}.bias"), vec![kind.cout()]));
        }
        if let Some(bn) = &layer.bn {
            for field in ["weight", "bias", "running_mean", "running_var"] {
                out.push((format!("{bn}.{field}"), vec![kind.cout()]));
            }
        }
    }
    out
}

/// The safetensors file (f32, no metadata) holding `tensors`.
pub fn serialize(tensors: &[Tensor]) -> Result<Vec<u8>, Error> {
    let bytes: Vec<Vec<u8>> = tensors.iter().map(|t| t.data.iter().flat_map(|v| v.to_le_bytes()).collect()).collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|(t, b)| {
            TensorView::new(Dtype::F32, t.shape.clone(), b)
                .map(|v| (t.name.clone(), v))
                .map_err(|e| Error::new(format!("tensor `{}`: {e}", t.name)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    safetensors::serialize(views, None).map_err(|e| Error::new(format!("cannot write safetensors: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hwio_becomes_oihw() {
        // [kh=1, kw=2, ci=2, co=3]: value = 1000y + 100x + 10i + o.
        let mut data = Vec::new();
        for x in 0..2 {
            for i in 0..2 {
                for o in 0..3 {
                    data.push((100 * x + 10 * i + o) as f32);
                }
            }
        }
        let out = hwio_to_oihw(&data, [1, 2, 2, 3]);
        for o in 0..3 {
            for i in 0..2 {
                for x in 0..2 {
                    assert_eq!(out[(o * 2 + i) * 2 + x], (100 * x + 10 * i + o) as f32);
                }
            }
        }
    }

    #[test]
    fn depthwise_becomes_c_1_3_3() {
        let c = 4;
        let data: Vec<f32> = (0..9 * c).map(|v| v as f32).collect();
        let out = hwio_to_oihw(&data, [3, 3, c, 1]);
        // Keras [y][x][ch][0] = (y * 3 + x) * c + ch; torch [ch][0][y][x].
        assert_eq!(out[(2 * 3 + 1) * 3 + 2], ((3 + 2) * c + 2) as f32);
    }

    #[test]
    fn dense_is_transposed() {
        let data = [1., 2., 3., 4., 5., 6.]; // [in=2, out=3]
        assert_eq!(transpose(&data, 2, 3), [1., 4., 2., 5., 3., 6.]);
    }
}
