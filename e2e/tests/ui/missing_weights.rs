mobilenet_runtime::mobilenet!("specs/missing_weights.yaml");

fn main() {}
