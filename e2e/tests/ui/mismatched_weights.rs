mobilenet_runtime::mobilenet!("specs/mismatched_weights.yaml");

fn main() {}
