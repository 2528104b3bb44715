use serde::{Deserialize, Serialize};

#[derive(armdb::Tree, Serialize, Deserialize)]
enum User {
    Active { id: u64 },
    Gone,
}

fn main() {}
