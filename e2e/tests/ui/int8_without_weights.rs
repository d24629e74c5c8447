mobilenet_runtime::mobilenet!("specs/int8_without_weights.yaml");

fn main() {}
