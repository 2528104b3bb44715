use serde::{Deserialize, Serialize};

#[derive(armdb::Tree, Serialize, Deserialize)]
struct Player {
    #[key]
    id: u64,
    #[index]
    score: f64,
}

fn main() {}
