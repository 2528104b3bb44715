use serde::{Deserialize, Serialize};

#[derive(armdb::Tree, Serialize, Deserialize)]
struct User {
    #[key]
    #[key]
    id: u64,
}

fn main() {}
