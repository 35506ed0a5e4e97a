//! The wire-message reader: whatever a server sends (startup, SCRAM or
//! password authentication, results, errors, notices), the client ends with
//! an answer or an error, never a panic or a hang.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap())
}

fuzz_target!(|input: &[u8]| {
    runtime().block_on(pgdoor_proxy::pg::replay(input.to_vec()));
});
