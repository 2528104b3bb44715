use serde::{Deserialize, Serialize};

#[derive(armdb::Tree, Serialize, Deserialize)]
#[tree(codec = "json")]
struct User {
    #[key]
    id: u64,
}

fn main() {}
