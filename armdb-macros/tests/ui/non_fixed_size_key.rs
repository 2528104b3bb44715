use serde::{Deserialize, Serialize};

#[derive(armdb::Tree, Serialize, Deserialize)]
struct User {
    #[key]
    email: String,
    name: String,
}

fn main() {}
