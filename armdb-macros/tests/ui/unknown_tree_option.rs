use serde::{Deserialize, Serialize};

#[derive(armdb::Tree, Serialize, Deserialize)]
#[tree(nme = "users")]
struct User {
    #[key]
    id: u64,
}

fn main() {}
