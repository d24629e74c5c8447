mobilenet_runtime::mobilenet!("specs/int8_bad_calibration.yaml");

fn main() {}
