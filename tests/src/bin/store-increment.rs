//! Test helper: `store-increment DIR KEY N` adds 1 to the counter at KEY in the local
//! store at DIR, N times. Several of these run at once to prove cross-process safety.

use aiops_tests::conformance::increment;
use shared::store::LocalStore;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, key, n] = args.as_slice() else {
        eprintln!("usage: store-increment DIR KEY N");
        std::process::exit(2);
    };
    let n: u64 = n.parse().expect("N is a number");
    let store = LocalStore::open(dir).expect("open store");
    for _ in 0..n {
        increment(&store, key).await;
    }
}
