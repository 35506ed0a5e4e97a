//! pgweb's base64 download links: decoded when they are one, left alone otherwise.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| pgdoor_proxy::fuzz::download_link(input));
