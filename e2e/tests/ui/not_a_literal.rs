mobilenet_runtime::mobilenet!(specs / net);

fn main() {}
