mobilenet_runtime::mobilenet!("specs/negative_repeats.yaml");

fn main() {}
