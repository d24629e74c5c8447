mobilenet_runtime::mobilenet!("specs/zero_channels.yaml");

fn main() {}
