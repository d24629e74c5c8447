mobilenet_runtime::mobilenet!("specs/labels_count.yaml");

fn main() {}
