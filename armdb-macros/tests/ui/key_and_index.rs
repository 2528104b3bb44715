use serde::{Deserialize, Serialize};

#[derive(armdb::Tree, Serialize, Deserialize)]
struct User {
    #[key]
    #[index(unique)]
    id: u64,
}

fn main() {}
