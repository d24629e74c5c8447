mobilenet_runtime::mobilenet!("specs/rgb8_without_mean.yaml");

fn main() {}
