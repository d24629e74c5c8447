//! Spec values whose visitors validate, so serde_yaml locates the offending scalar: the
//! name, file paths, bounded integers, positive numbers, the resolution and the table.

use super::{num, Row, MAX_BLOCKS, MAX_CHANNELS, MAX_REPEATS, MAX_RESOLUTION};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;

/// One of `choices`, written as its name; anything else is `hint` (what the key must be),
/// then what was found.
pub(super) fn keyword<'de, D: Deserializer<'de>, T: Copy + 'static>(
    d: D,
    choices: &'static [(&'static str, T)],
    hint: &'static str,
) -> Result<T, D::Error> {
    struct V<T: 'static> {
        choices: &'static [(&'static str, T)],
        hint: &'static str,
    }
    impl<T: Copy> Visitor<'_> for V<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            for (i, (name, _)) in self.choices.iter().enumerate() {
                let sep = if i == 0 {
                    ""
                } else if i + 1 == self.choices.len() {
                    " or "
                } else {
                    ", "
                };
                write!(f, "{sep}`{name}`")?;
            }
            Ok(())
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            let found = self.choices.iter().find(|(name, _)| *name == v);
            found.map(|&(_, value)| value).ok_or_else(|| E::custom(format!("{}, found {v:?}", self.hint)))
        }
    }
    d.deserialize_str(V { choices, hint })
}

/// The model's type name.
pub(super) struct Name(pub String);

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Name;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Rust type name such as MobileNetV2")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Name, E> {
                if syn::parse_str::<syn::Ident>(v).is_ok() && !v.starts_with("r#") && v != "_" {
                    Ok(Name(v.to_string()))
                } else {
                    Err(E::custom(format!(
                        "must be a Rust type name (letters, digits, `_`; not a keyword), found {v:?}; e.g. `name: MobileNetV2`"
                    )))
                }
            }
        }
        d.deserialize_str(V)
    }
}

/// A file path relative to the spec (`weights`, `labels`).
pub(super) struct WeightsPath(pub String);

impl<'de> Deserialize<'de> for WeightsPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = WeightsPath;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a file path, relative to the spec")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<WeightsPath, E> {
                if v.trim().is_empty() {
                    return Err(E::custom("is empty: name a file next to the spec, or remove the key"));
                }
                Ok(WeightsPath(v.to_string()))
            }
        }
        d.deserialize_str(V)
    }
}

/// An integer in `MIN..=MAX`.
pub(super) struct Int<const MIN: u64, const MAX: u64>(pub usize);

impl<'de, const MIN: u64, const MAX: u64> Deserialize<'de> for Int<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(IntVisitor { what: "", min: MIN, max: MAX }).map(Int)
    }
}

struct IntVisitor {
    what: &'static str,
    min: u64,
    max: u64,
}

impl IntVisitor {
    fn bounds(&self) -> String {
        if self.max == u64::MAX {
            format!("an integer >= {}", self.min)
        } else {
            format!("an integer from {} to {}", self.min, self.max)
        }
    }
}

impl Visitor<'_> for IntVisitor {
    type Value = usize;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.what, self.bounds())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<usize, E> {
        if (self.min..=self.max).contains(&v) {
            Ok(v as usize)
        } else {
            Err(E::custom(format!("{}must be {}, found {v}", self.what, self.bounds())))
        }
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<usize, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(E::custom(format!("{}must be {}, found {v}", self.what, self.bounds()))),
        }
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<usize, E> {
        Err(E::custom(format!("{}must be {}, found {}", self.what, self.bounds(), num(v))))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<usize, E> {
        Err(E::custom(format!(
            "{}must be {}, found the string {v:?} (write the number without quotes)",
            self.what,
            self.bounds()
        )))
    }
}

/// A finite number > 0 (integers accepted).
pub(super) struct Positive(pub f64);

impl<'de> Deserialize<'de> for Positive {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(PositiveVisitor { what: "" }).map(Positive)
    }
}

struct PositiveVisitor {
    what: &'static str,
}

impl Visitor<'_> for PositiveVisitor {
    type Value = f64;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}a number > 0", self.what)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        if v.is_finite() && v > 0.0 && v <= 1000.0 {
            Ok(v)
        } else {
            Err(E::custom(format!("{}must be a number > 0 (and at most 1000), found {}", self.what, num(v))))
        }
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        self.visit_f64(v as f64)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        self.visit_f64(v as f64)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
        Err(E::custom(format!(
            "{}must be a number > 0, found the string {v:?} (write the number without quotes)",
            self.what
        )))
    }
}

/// `resolution`: an integer (square) or `[height, width]`.
pub(super) struct Resolution(pub usize, pub usize);

impl<'de> Deserialize<'de> for Resolution {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        const SIDE: IntVisitor = IntVisitor { what: "", min: 1, max: MAX_RESOLUTION };
        impl<'de> Visitor<'de> for V {
            type Value = Resolution;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`resolution` as an integer (square input) or [height, width]")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Resolution, E> {
                let s = SIDE.visit_u64(v)?;
                Ok(Resolution(s, s))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Resolution, E> {
                let s = SIDE.visit_i64(v)?;
                Ok(Resolution(s, s))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Resolution, E> {
                SIDE.visit_f64(v).map(|s| Resolution(s, s))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Resolution, E> {
                SIDE.visit_str(v).map(|s| Resolution(s, s))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Resolution, A::Error> {
                let mut sides = Vec::new();
                while let Some(s) = seq.next_element_seed(Seeded(SIDE))? {
                    sides.push(s);
                }
                match sides[..] {
                    [h, w] => Ok(Resolution(h, w)),
                    _ => Err(de::Error::custom(format!(
                        "as a list must be [height, width], found {} numbers",
                        sides.len()
                    ))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// Lets a configured visitor deserialize one element.
pub(super) struct Seeded<V>(pub V);

impl<'de, V: Visitor<'de>> DeserializeSeed<'de> for Seeded<V> {
    type Value = V::Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        d.deserialize_any(self.0)
    }
}

/// `inverted_residual_setting`: one or more `[t, c, n, s]` rows.
pub(super) struct Table(pub Vec<Row>);

impl<'de> Deserialize<'de> for Table {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Table;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of [t, c, n, s] rows")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Table, A::Error> {
                let mut rows = Vec::new();
                while let Some(row) = seq.next_element::<RowDe>()? {
                    rows.push(row.0);
                }
                let blocks: usize = rows.iter().map(|r| r.n).sum();
                if blocks > MAX_BLOCKS {
                    return Err(de::Error::custom(format!(
                        "the rows add up to {blocks} blocks (the sum of n); at most {MAX_BLOCKS} are supported"
                    )));
                }
                if rows.is_empty() {
                    return Err(de::Error::custom(
                        "no rows: give at least one [t, c, n, s] row, or remove the key to get the paper's table",
                    ));
                }
                Ok(Table(rows))
            }
        }
        d.deserialize_seq(V)
    }
}

struct RowDe(Row);

impl<'de> Deserialize<'de> for RowDe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RowDe;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a row [t, c, n, s] (expansion, channels, repeats, stride)")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RowDe, A::Error> {
                let count_err = |found: usize| {
                    de::Error::custom(format!(
                        "a row needs 4 numbers [t, c, n, s] (expansion, channels, repeats, stride), found {found}"
                    ))
                };
                let t = seq.next_element_seed(Seeded(PositiveVisitor { what: "t (expansion factor) " }))?;
                let Some(t) = t else { return Err(count_err(0)) };
                let c = seq.next_element_seed(Seeded(IntVisitor {
                    what: "c (output channels) ",
                    min: 1,
                    max: MAX_CHANNELS,
                }))?;
                let Some(c) = c else { return Err(count_err(1)) };
                let n = seq.next_element_seed(Seeded(IntVisitor { what: "n (repeats) ", min: 1, max: MAX_REPEATS }))?;
                let Some(n) = n else { return Err(count_err(2)) };
                let s = seq.next_element_seed(Seeded(StrideVisitor))?;
                let Some(s) = s else { return Err(count_err(3)) };
                let mut extra = 0;
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    extra += 1;
                }
                if extra > 0 {
                    return Err(count_err(4 + extra));
                }
                Ok(RowDe(Row { t, c, n, s }))
            }
        }
        d.deserialize_seq(V)
    }
}

struct StrideVisitor;

impl Visitor<'_> for StrideVisitor {
    type Value = usize;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("s (stride): 1 or 2")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<usize, E> {
        match v {
            1 | 2 => Ok(v as usize),
            _ => Err(E::custom(format!("s (stride) must be 1 or 2, found {v}"))),
        }
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<usize, E> {
        Err(E::custom(format!("s (stride) must be 1 or 2, found {v}")))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<usize, E> {
        Err(E::custom(format!("s (stride) must be 1 or 2, found {v}")))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<usize, E> {
        Err(E::custom(format!("s (stride) must be 1 or 2, found the string {v:?}")))
    }
}
