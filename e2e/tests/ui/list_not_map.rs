mobilenet_runtime::mobilenet!("specs/list_not_map.yaml");

fn main() {}
