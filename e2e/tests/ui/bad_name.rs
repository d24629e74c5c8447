mobilenet_runtime::mobilenet!("specs/bad_name.yaml");

fn main() {}
