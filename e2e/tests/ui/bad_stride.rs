mobilenet_runtime::mobilenet!("specs/bad_stride.yaml");

fn main() {}
