//! The variants' models (`generated` declares its own inside each test).

mobilenet_runtime::mobilenet!("specs/odd_nonsquare.yaml");
mobilenet_runtime::mobilenet!("specs/width035_odd.yaml");
mobilenet_runtime::mobilenet!("specs/width14_nonsquare.yaml");
mobilenet_runtime::mobilenet!("specs/custom_table.yaml");
mobilenet_runtime::mobilenet!("specs/one_pixel_wide.yaml");
mobilenet_runtime::mobilenet!("specs/tf_even_nonsquare.yaml");
mobilenet_runtime::mobilenet!("specs/tf_rgb8.yaml");
