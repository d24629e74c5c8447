mobilenet_runtime::mobilenet!("specs/resolution_three.yaml");

fn main() {}
