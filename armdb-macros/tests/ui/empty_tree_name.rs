use serde::{Deserialize, Serialize};

#[derive(armdb::Tree, Serialize, Deserialize)]
#[tree(name = "")]
struct User {
    #[key]
    id: u64,
}

fn main() {}
