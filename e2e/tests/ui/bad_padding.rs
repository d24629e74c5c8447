mobilenet_runtime::mobilenet!("specs/bad_padding.yaml");

fn main() {}
