use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
struct Id(u64);

#[derive(armdb::Tree, Serialize, Deserialize)]
struct Order {
    #[key]
    customer: u32,
    #[key]
    id: Id,
}

fn main() {}
