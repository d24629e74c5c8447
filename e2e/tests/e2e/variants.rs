//! Variants this binary compiles for its other tests, against the reference interpreter
//! (`check_variant!`): odd non-square input at width 0.5, width 1.4 non-square, TF padding with
//! Keras's BatchNorm epsilon and an unfused stem (8-bit input). The other variants are in the
//! `interpreter` test binary.

use crate::models::*;

mobilenet_e2e::check_variant!(odd_nonsquare_width_05, OddNonSquare, "specs/odd_nonsquare.yaml");
mobilenet_e2e::check_variant!(width_14_nonsquare, Width14NonSquare, "specs/width14_nonsquare.yaml");
mobilenet_e2e::check_variant!(tf_padding_unfused_stem_rgb8, TfRgb8, "specs/tf_rgb8.yaml");
