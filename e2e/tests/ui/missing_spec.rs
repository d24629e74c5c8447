mobilenet_runtime::mobilenet!("specs/does_not_exist.yaml");

fn main() {}
