//! A connect backend's answer: any bytes are a credential or a refusal, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pgdoor_resolver::Credential;

fuzz_target!(|input: &[u8]| {
    let Ok(serde_json::Value::Object(answer)) = serde_json::from_slice(input) else { return };
    if let Ok(credential) = Credential::from_answer(&answer) {
        let _ = credential.redacted_url();
    }
});
