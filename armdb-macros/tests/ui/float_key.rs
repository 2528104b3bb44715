use serde::{Deserialize, Serialize};

#[derive(armdb::Tree, Serialize, Deserialize)]
struct Reading {
    #[key]
    sensor: u32,
    #[key]
    value: f64,
}

fn main() {}
