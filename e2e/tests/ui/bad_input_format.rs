mobilenet_runtime::mobilenet!("specs/bad_input_format.yaml");

fn main() {}
