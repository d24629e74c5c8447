//! The `precision` key: `f32` (the default) or `int8`, quantized at build time from the
//! `calibration` images (`crate::quantize`), and the checks that tie it to `weights`,
//! `calibration` and `plan`.

use super::values::keyword;
use super::{locate, Plan, Seg, SourceFile, Spec};
use crate::error::Error;
use serde::de::Deserializer;
use serde::Deserialize;

/// `precision: f32 | int8`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    #[default]
    F32,
    /// 8-bit activations and weights, quantized when the crate builds.
    Int8,
}

impl Precision {
    /// The name a spec writes.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Int8 => "int8",
        }
    }
}

/// `precision` as written.
pub(super) struct PrecisionDe(pub Precision);

impl<'de> Deserialize<'de> for PrecisionDe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let choices = &[("f32", Precision::F32), ("int8", Precision::Int8)];
        keyword(
            d,
            choices,
            "must be `f32` (the default) or `int8` (quantized at build time; needs `weights` and `calibration`)",
        )
        .map(PrecisionDe)
    }
}

/// The keys `precision` needs, or rules out.
pub(super) fn check(spec: &Spec, src: &SourceFile) -> Result<(), Error> {
    let at = |key: &str| locate(src, &[Seg::Key(key)]);
    match spec.precision {
        Precision::F32 => {
            if spec.calibration.is_some() {
                return Err(Error::at(
                    at("calibration"),
                    "`calibration` is only read for `precision: int8`; add `precision: int8` or remove `calibration`",
                ));
            }
        }
        Precision::Int8 => {
            if spec.weights.is_none() {
                return Err(Error::at(
                    at("precision"),
                    "`precision: int8` quantizes the spec's weights at build time: add `weights: FILE.safetensors` (int8 models have no `from_safetensors`)",
                ));
            }
            if spec.calibration.is_none() {
                return Err(Error::at(
                    at("precision"),
                    "`precision: int8` needs calibration images to choose activation ranges: add `calibration: FILE.safetensors` (tensor `images`, [N, height, width, 3] f32, in the model's input scaling)",
                ));
            }
            if spec.plan == Plan::Memory {
                return Err(Error::at(
                    at("plan"),
                    "int8 models have no `plan: memory` schedule (chained blocks) yet; use `plan: speed` (an int8 arena is a quarter of the f32 one) or `precision: f32`",
                ));
            }
        }
    }
    Ok(())
}
