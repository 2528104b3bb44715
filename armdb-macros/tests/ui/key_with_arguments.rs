use serde::{Deserialize, Serialize};

#[derive(armdb::Tree, Serialize, Deserialize)]
struct User {
    #[key(desc)]
    id: u64,
}

fn main() {}
