use serde::{Deserialize, Serialize};

#[derive(armdb::Tree, Serialize, Deserialize)]
#[tree(name = "")]
struct User {
    #[key]
    name: String,
    #[index(sorted)]
    email: String,
}

// The fallback impl keeps this line free of further errors.
fn open(db: &armdb::Db) -> armdb::Result<armdb::TypedTree<User>> {
    db.tree::<User>()
}

fn main() {
    let _ = open;
}
