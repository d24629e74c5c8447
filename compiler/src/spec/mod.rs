//! The YAML network spec: parsing and validation, with every error located at
//! `file:line:col` and saying what to change.

mod input;
mod plan;
mod precision;
mod values;

use crate::error::{Error, Location};
pub use input::{InputFormat, InputSpec};
pub use mobilenet_kernels::Padding;
pub use plan::Plan;
pub use precision::Precision;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use values::{Int, Name, Positive, Resolution, Table, WeightsPath};

/// A spec's text and the name it is reported under.
#[derive(Clone, Debug)]
pub struct SourceFile {
    /// The path as the user should read it in messages (relative to their crate).
    pub display: String,
    pub text: String,
}

/// One row `[t, c, n, s]` of the inverted-residual table.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Row {
    /// Expansion factor.
    pub t: f64,
    /// Output channels before the width multiplier.
    pub c: usize,
    /// Repeats.
    pub n: usize,
    /// Stride of the first repeat.
    pub s: usize,
}

/// The paper's (and torchvision's) inverted-residual table.
pub const DEFAULT_TABLE: [Row; 7] = [
    Row { t: 1.0, c: 16, n: 1, s: 1 },
    Row { t: 6.0, c: 24, n: 2, s: 2 },
    Row { t: 6.0, c: 32, n: 3, s: 2 },
    Row { t: 6.0, c: 64, n: 4, s: 2 },
    Row { t: 6.0, c: 96, n: 3, s: 1 },
    Row { t: 6.0, c: 160, n: 3, s: 2 },
    Row { t: 6.0, c: 320, n: 1, s: 1 },
];

/// A validated spec. Field meanings follow `torchvision.models.MobileNetV2`.
#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    pub name: String,
    pub height: usize,
    pub width: usize,
    pub width_mult: f64,
    pub round_nearest: usize,
    pub num_classes: usize,
    pub input_channel: usize,
    pub last_channel: usize,
    pub table: Vec<Row>,
    /// Weights file, relative to the spec file.
    pub weights: Option<String>,
    /// Where the 3x3 convolutions' zero padding goes (`torch`, or `tf` for Keras models).
    pub padding: Padding,
    /// BatchNorm epsilon (torchvision 1e-5, Keras 1e-3).
    pub bn_eps: f64,
    /// What `forward_rgb8` takes and how it normalises it.
    pub input: InputSpec,
    /// Class names file (one per line), relative to the spec file.
    pub labels: Option<String>,
    /// What fused blocks' band heights optimise: speed, or the arena's size.
    pub plan: Plan,
    /// f32, or int8 quantized at build time.
    pub precision: Precision,
    /// Calibration images for int8 (safetensors, tensor `images`), relative to the spec file.
    pub calibration: Option<String>,
}

/// The keys a spec may hold, for "did you mean" hints.
pub const KEYS: [&str; 16] = [
    "name",
    "resolution",
    "width_mult",
    "round_nearest",
    "num_classes",
    "input_channel",
    "last_channel",
    "inverted_residual_setting",
    "weights",
    "padding",
    "bn_eps",
    "input",
    "labels",
    "plan",
    "precision",
    "calibration",
];

/// Bounds that keep every derived size far from overflow and compile times sane.
pub const MAX_RESOLUTION: u64 = 8192;
pub const MAX_CHANNELS: u64 = 1 << 16;
pub const MAX_REPEATS: u64 = 1024;
pub const MAX_CLASSES: u64 = 1 << 20;
/// Inverted-residual blocks in all (the sum of the table's `n`).
pub const MAX_BLOCKS: usize = 512;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    name: Name,
    resolution: Resolution,
    #[serde(default)]
    width_mult: Option<Positive>,
    #[serde(default)]
    round_nearest: Option<Int<1, MAX_CHANNELS>>,
    #[serde(default)]
    num_classes: Option<Int<1, MAX_CLASSES>>,
    #[serde(default)]
    input_channel: Option<Int<1, MAX_CHANNELS>>,
    #[serde(default)]
    last_channel: Option<Int<1, MAX_CHANNELS>>,
    #[serde(default)]
    inverted_residual_setting: Option<Table>,
    #[serde(default)]
    weights: Option<WeightsPath>,
    #[serde(default)]
    padding: Option<input::PaddingDe>,
    #[serde(default)]
    bn_eps: Option<input::BnEps>,
    #[serde(default)]
    input: Option<input::InputDe>,
    #[serde(default)]
    labels: Option<WeightsPath>,
    #[serde(default)]
    plan: Option<plan::PlanDe>,
    #[serde(default)]
    precision: Option<precision::PrecisionDe>,
    #[serde(default)]
    calibration: Option<WeightsPath>,
}

/// Parse and validate a spec.
pub fn parse(src: &SourceFile) -> Result<Spec, Error> {
    if src.text.trim().is_empty() {
        return Err(Error::at(
            Location { file: src.display.clone(), line: 1, column: 1 },
            "the spec is empty; it needs at least `name: MobileNetV2` and `resolution: 224`",
        ));
    }
    let raw: RawSpec = serde_yaml::from_str(&src.text).map_err(|e| yaml_error(src, &e))?;
    let input = match raw.input {
        Some(i) => {
            i.validate().map_err(|(key, why)| Error::at(locate(src, &[Seg::Key("input"), Seg::Key(key)]), why))?
        }
        None => InputSpec::default(),
    };
    let spec = Spec {
        name: raw.name.0,
        height: raw.resolution.0,
        width: raw.resolution.1,
        width_mult: raw.width_mult.map_or(1.0, |w| w.0),
        round_nearest: raw.round_nearest.map_or(8, |v| v.0),
        num_classes: raw.num_classes.map_or(1000, |v| v.0),
        input_channel: raw.input_channel.map_or(32, |v| v.0),
        last_channel: raw.last_channel.map_or(1280, |v| v.0),
        table: raw.inverted_residual_setting.map_or_else(|| DEFAULT_TABLE.to_vec(), |t| t.0),
        weights: raw.weights.map(|w| w.0),
        padding: raw.padding.map_or(Padding::Torch, |p| p.0),
        bn_eps: raw.bn_eps.map_or(mobilenet_kernels::checkpoint::TORCH_BN_EPS, |e| e.0),
        input,
        labels: raw.labels.map(|l| l.0),
        plan: raw.plan.map_or(Plan::Speed, |p| p.0),
        precision: raw.precision.map_or(Precision::F32, |p| p.0),
        calibration: raw.calibration.map(|c| c.0),
    };
    precision::check(&spec, src)?;
    Ok(spec)
}

/// A number as a person wrote it: plain when short, scientific when huge.
pub(super) fn num(v: f64) -> String {
    if v.abs() >= 1e9 {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// Turn a serde_yaml error into a located error with a hint.
fn yaml_error(src: &SourceFile, e: &serde_yaml::Error) -> Error {
    // serde_yaml writes " at line L column C" into its messages; the location is reported
    // up front instead.
    let message = strip_positions(&e.to_string());
    let syntax =
        ["while scanning", "while parsing", "not allowed in this context", "did not find expected", "found character"];
    let message = if syntax.iter().any(|s| message.contains(s)) {
        format!("YAML syntax error: {message}; check indentation, brackets and quotes on that line")
    } else {
        with_hint(&message)
    };
    match e.location() {
        Some(l) => Error::at(Location { file: src.display.clone(), line: l.line(), column: l.column() }, message),
        None => Error::at(Location { file: src.display.clone(), line: 1, column: 1 }, message),
    }
}

fn strip_positions(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(" at line ") {
        out.push_str(&rest[..i]);
        let after = &rest[i + " at line ".len()..];
        let skip = after
            .split_once(" column ")
            .map(|(line, col)| (line, col.find(|c: char| !c.is_ascii_digit()).unwrap_or(col.len())))
            .filter(|(line, _)| line.chars().all(|c| c.is_ascii_digit()));
        match skip {
            Some((line, col_len)) => rest = &after[line.len() + " column ".len() + col_len..],
            None => {
                out.push_str(" at line ");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn with_hint(message: &str) -> String {
    if let Some(rest) = message.split("unknown field `").nth(1) {
        let field = rest.split('`').next().unwrap_or("");
        let expected = KEYS.join(", ");
        let hint = match closest_key(field) {
            Some(k) => format!("unknown key `{field}`: did you mean `{k}`? (a spec may hold: {expected})"),
            None => format!("unknown key `{field}`: remove it (a spec may hold: {expected})"),
        };
        return hint;
    }
    if let Some(rest) = message.split("missing field `").nth(1) {
        let field = rest.split('`').next().unwrap_or("");
        let example = match field {
            "name" => "name: MobileNetV2",
            "resolution" => "resolution: 224",
            _ => "",
        };
        return format!("the spec needs a `{field}` key, e.g. `{example}`");
    }
    if message.contains("invalid type: sequence, expected struct RawSpec")
        || message.contains("expected struct RawSpec")
    {
        return "the spec must be a YAML mapping of keys (name: ..., resolution: ..., ...), not a list or a scalar"
            .to_string();
    }
    message.to_string()
}

fn closest_key(field: &str) -> Option<&'static str> {
    KEYS.iter().map(|k| (edit_distance(field, k), *k)).filter(|(d, k)| *d <= 3.max(k.len() / 4)).min().map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Where in the spec a value lives: a path of mapping keys and sequence indices.
#[derive(Clone, Copy, Debug)]
pub enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

/// Locate the node at `path` in `src` (for errors found after parsing), falling back to the
/// nearest ancestor that exists.
pub fn locate(src: &SourceFile, path: &[Seg<'_>]) -> Location {
    for len in (0..=path.len()).rev() {
        let seed = Find { path: &path[..len] };
        let de = serde_yaml::Deserializer::from_str(&src.text);
        if let Err(e) = seed.deserialize(de) {
            if e.to_string().contains(FOUND) {
                if let Some(l) = e.location() {
                    return Location { file: src.display.clone(), line: l.line(), column: l.column() };
                }
            }
        }
    }
    Location { file: src.display.clone(), line: 1, column: 1 }
}

const FOUND: &str = "\u{1}node found\u{1}";

/// Walks to a node and fails there, so that serde_yaml reports the node's position.
struct Find<'p, 'a> {
    path: &'p [Seg<'a>],
}

impl<'de> DeserializeSeed<'de> for Find<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Find<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any node")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((&Seg::Key(want), rest)) = self.path.split_first() else {
            return Err(de::Error::custom(FOUND));
        };
        while let Some(key) = map.next_key::<serde_yaml::Value>()? {
            if key.as_str() == Some(want) {
                return map.next_value_seed(Find { path: rest });
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some((&Seg::Index(want), rest)) = self.path.split_first() else {
            return Err(de::Error::custom(FOUND));
        };
        let mut i = 0;
        while i < want {
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(());
            }
            i += 1;
        }
        seq.next_element_seed(Find { path: rest }).map(|_| ())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.leaf()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.leaf()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.leaf()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.leaf()
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.leaf()
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.leaf()
    }
}

impl Find<'_, '_> {
    fn leaf<E: de::Error>(self) -> Result<(), E> {
        if self.path.is_empty() {
            Err(E::custom(FOUND))
        } else {
            Ok(())
        }
    }
}
