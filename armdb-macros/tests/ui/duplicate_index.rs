use serde::{Deserialize, Serialize};

#[derive(armdb::Tree, Serialize, Deserialize)]
struct User {
    #[key]
    id: u64,
    #[index]
    #[index(unique)]
    email: String,
}

fn main() {}
