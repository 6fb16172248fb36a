// `sqlx::migrate!` embeds the migrations when the crate compiles; without this, adding a
// migration file would leave a build that does not know it.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
