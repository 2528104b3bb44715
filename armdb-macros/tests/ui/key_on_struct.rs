use serde::{Deserialize, Serialize};

#[derive(armdb::Tree, Serialize, Deserialize)]
#[key]
struct User {
    #[key]
    id: u64,
}

fn main() {}
