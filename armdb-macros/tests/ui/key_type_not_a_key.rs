use serde::{Deserialize, Serialize};

#[derive(armdb::Tree, Serialize, Deserialize)]
struct Point {
    #[key]
    xy: (u32, u32),
    label: String,
}

fn main() {}
