mobilenet_runtime::mobilenet!("specs/zero_expansion.yaml");

fn main() {}
