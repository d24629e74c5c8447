mobilenet_runtime::mobilenet!("specs/zero_width.yaml");

fn main() {}
