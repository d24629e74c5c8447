//! Variants only this binary compiles, against the reference interpreter (`check_variant!`):
//! width 0.35 at an odd resolution, a custom table with round_nearest 4, a one-pixel-wide input
//! and TF padding on an even non-square input.

mobilenet_runtime::mobilenet!("specs/width035_odd.yaml");
mobilenet_runtime::mobilenet!("specs/custom_table.yaml");
mobilenet_runtime::mobilenet!("specs/one_pixel_wide.yaml");
mobilenet_runtime::mobilenet!("specs/tf_even_nonsquare.yaml");

mobilenet_e2e::check_variant!(width_035_odd_resolution, Width035Odd, "specs/width035_odd.yaml");
mobilenet_e2e::check_variant!(custom_table_round_nearest_4, CustomTable, "specs/custom_table.yaml");
mobilenet_e2e::check_variant!(one_pixel_wide, OnePixelWide, "specs/one_pixel_wide.yaml");
mobilenet_e2e::check_variant!(tf_padding_even_nonsquare, TfEvenNonSquare, "specs/tf_even_nonsquare.yaml");
