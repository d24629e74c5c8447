mobilenet_runtime::mobilenet!("specs/weights_outside.yaml");

fn main() {}
