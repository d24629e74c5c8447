mobilenet_runtime::mobilenet!("specs/classes_mismatch.yaml");

fn main() {}
