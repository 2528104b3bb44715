use serde::{Deserialize, Serialize};

#[derive(armdb::Tree, Serialize, Deserialize)]
struct User {
    #[key]
    id: u64,
    #[index(uniq)]
    email: String,
}

fn main() {}
