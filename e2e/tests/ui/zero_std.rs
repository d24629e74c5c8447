mobilenet_runtime::mobilenet!("specs/zero_std.yaml");

fn main() {}
