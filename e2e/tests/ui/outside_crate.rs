mobilenet_runtime::mobilenet!("../../../../../../../../../../../../etc/hostname");

fn main() {}
