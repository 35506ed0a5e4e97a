//! The file resolver's TOML: any text is a map or a refusal, and every
//! resource in a map is a credential or a refusal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pgdoor_resolver::ResourceMap;

fuzz_target!(|input: &str| {
    let Ok(map) = ResourceMap::parse(input) else { return };
    for line in input.lines() {
        let name = line.split(['=', ']', '[']).find(|part| !part.trim().is_empty()).unwrap_or("").trim();
        let _ = map.credential(name.trim_matches('"'));
    }
});
