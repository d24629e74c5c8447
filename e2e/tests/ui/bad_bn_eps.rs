mobilenet_runtime::mobilenet!("specs/bad_bn_eps.yaml");

fn main() {}
