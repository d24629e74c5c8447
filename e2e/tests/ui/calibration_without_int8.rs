mobilenet_runtime::mobilenet!("specs/calibration_without_int8.yaml");

fn main() {}
