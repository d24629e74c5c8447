mobilenet_runtime::mobilenet!("specs/f32_with_mean.yaml");

fn main() {}
