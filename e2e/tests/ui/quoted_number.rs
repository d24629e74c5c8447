mobilenet_runtime::mobilenet!("specs/quoted_number.yaml");

fn main() {}
