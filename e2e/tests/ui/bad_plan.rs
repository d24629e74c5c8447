mobilenet_runtime::mobilenet!("specs/bad_plan.yaml");

fn main() {}
