mobilenet_runtime::mobilenet!("specs/table_as_map.yaml");

fn main() {}
