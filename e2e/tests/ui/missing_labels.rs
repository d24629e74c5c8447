mobilenet_runtime::mobilenet!("specs/missing_labels.yaml");

fn main() {}
