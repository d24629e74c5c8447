//! Spec keys that say how the trained network saw its data: `padding`, `bn_eps` and `input`
//! (8-bit frames and their normalisation). Visitors validate, so errors point at the value.

use super::values::{keyword, Seeded};
use super::{num, Padding};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;

/// What the generated model takes besides normalised f32 images.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InputFormat {
    /// Normalised f32 only (`forward`).
    #[default]
    F32,
    /// Also 8-bit RGB frames (`forward_rgb8`), normalised as `(x / 255 - mean) / std`.
    Rgb8,
}

/// The `input` key. `mean` and `std` are per channel (R, G, B) in 0..1 units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InputSpec {
    pub format: InputFormat,
    pub mean: [f64; 3],
    pub std: [f64; 3],
}

impl Default for InputSpec {
    fn default() -> Self {
        InputSpec { format: InputFormat::F32, mean: [0.0; 3], std: [1.0; 3] }
    }
}

/// `padding: torch | tf`.
pub(super) struct PaddingDe(pub Padding);

impl<'de> Deserialize<'de> for PaddingDe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let choices = &[("torch", Padding::Torch), ("tf", Padding::Tf)];
        keyword(d, choices, "must be `torch` (PyTorch/torchvision: 1 on every side) or `tf` (TensorFlow/Keras \"SAME\": stride-2 layers on even sizes pad bottom/right only)")
            .map(PaddingDe)
    }
}

/// `bn_eps`: BatchNorm epsilon, a number in (0, 1].
pub(super) struct BnEps(pub f64);

impl<'de> Deserialize<'de> for BnEps {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let check = |v: f64| {
            if v.is_finite() && v > 0.0 && v <= 1.0 {
                Ok(v)
            } else {
                Err(format!("must be a number in (0, 1] (torchvision 1e-5, Keras 0.001), found {}", num(v)))
            }
        };
        d.deserialize_any(Number { expecting: "a number in (0, 1]", check }).map(BnEps)
    }
}

/// `input: {format, mean, std}` as written; `validate` checks the combination.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct InputDe {
    format: FormatDe,
    #[serde(default)]
    mean: Option<Triple<false>>,
    #[serde(default)]
    std: Option<Triple<true>>,
}

impl InputDe {
    /// The spec, or the key to point at and what is wrong.
    pub fn validate(self) -> Result<InputSpec, (&'static str, String)> {
        match (self.format.0, self.mean, self.std) {
            (InputFormat::F32, None, None) => Ok(InputSpec::default()),
            (InputFormat::F32, m, _) => Err((
                if m.is_some() { "mean" } else { "std" },
                "`mean` and `std` say how forward_rgb8 normalises 8-bit pixels; with `format: f32` the input is already normalised: remove them, or use `format: rgb8`".into(),
            )),
            (InputFormat::Rgb8, Some(mean), Some(std)) => {
                Ok(InputSpec { format: InputFormat::Rgb8, mean: mean.0, std: std.0 })
            }
            (InputFormat::Rgb8, m, _) => Err((
                "format",
                format!(
                    "`format: rgb8` needs `{}` as well (0..1 units, R, G, B): torchvision's ImageNet models use mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]; Keras's (x / 127.5 - 1) is mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]",
                    if m.is_none() { "mean" } else { "std" }
                ),
            )),
        }
    }
}

struct FormatDe(InputFormat);

impl<'de> Deserialize<'de> for FormatDe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let choices = &[("rgb8", InputFormat::Rgb8), ("f32", InputFormat::F32)];
        keyword(
            d,
            choices,
            "input format must be `rgb8` (8-bit RGB frames, normalised by the model) or `f32` (normalised floats)",
        )
        .map(FormatDe)
    }
}

/// Three finite numbers, one per channel (R, G, B); all > 0 if `POSITIVE`.
struct Triple<const POSITIVE: bool>([f64; 3]);

impl<'de, const POSITIVE: bool> Deserialize<'de> for Triple<POSITIVE> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const P: bool>;
        impl<'de, const P: bool> Visitor<'de> for V<P> {
            type Value = Triple<P>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of 3 numbers [r, g, b] in 0..1 units")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Triple<P>, A::Error> {
                let mut v = Vec::new();
                let check = if P { std_value } else { mean_value };
                while let Some(x) =
                    seq.next_element_seed(Seeded(Number { expecting: "a number in 0..1 units", check }))?
                {
                    v.push(x);
                }
                match v[..] {
                    [r, g, b] => Ok(Triple([r, g, b])),
                    _ => Err(de::Error::custom(format!("needs 3 numbers [r, g, b] (0..1 units), found {}", v.len()))),
                }
            }
        }
        d.deserialize_seq(V::<POSITIVE>)
    }
}

/// A per-channel mean: finite, in 0..1 units.
fn mean_value(v: f64) -> Result<f64, String> {
    if !v.is_finite() || v.abs() > 1e6 {
        return Err(format!("must be a finite number in 0..1 units, found {}", num(v)));
    }
    Ok(v)
}

/// A per-channel standard deviation: as a mean, and at least 1e-6 (so that the normalisation's
/// `1 / (255 * std)` and `mean / std` are finite f32 constants).
fn std_value(v: f64) -> Result<f64, String> {
    let v = mean_value(v)?;
    if v < 1e-6 {
        return Err(format!("a standard deviation must be at least 1e-6 (0..1 units), found {}", num(v)));
    }
    Ok(v)
}

/// A number that `check` accepts (or says what is wrong with); strings and mappings are refused.
struct Number {
    expecting: &'static str,
    check: fn(f64) -> Result<f64, String>,
}

impl<'de> Visitor<'de> for Number {
    type Value = f64;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        (self.check)(v).map_err(E::custom)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        self.visit_f64(v as f64)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        self.visit_f64(v as f64)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
        Err(E::custom(format!("must be a number, found the string {v:?} (write it without quotes)")))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<f64, A::Error> {
        Err(de::Error::custom("must be a number, found a mapping"))
    }
}
