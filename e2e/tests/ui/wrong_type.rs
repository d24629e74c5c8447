mobilenet_runtime::mobilenet!("specs/wrong_type.yaml");

fn main() {}
