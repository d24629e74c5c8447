mobilenet_runtime::mobilenet!("specs/unknown_key.yaml");

fn main() {}
