use serde::{Deserialize, Serialize};

#[derive(armdb::Tree, Serialize, Deserialize)]
struct Wrapper<T> {
    #[key]
    id: u64,
    value: T,
}

fn main() {}
