//! Connection strings (postgres:// URLs and key=value pairs): any text parses
//! or is refused, and neither the parsed settings nor the refusal shows the password.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pgdoor_proxy::pg::{Config, Isolated};
use secrecy::ExposeSecret;

fuzz_target!(|input: &str| {
    match Config::parse_with(input, &Isolated) {
        Ok(config) => {
            let Some(password) = config.password.as_ref().map(|p| p.expose_secret().to_owned()) else { return };
            // A password made of the display's own punctuation, or found in
            // another field, can appear in it without being shown.
            let fields = [config.user.clone(), config.dbname.clone(), config.host.to_string(), config.port.to_string()];
            let incidental = password.contains([':', '@', '/', ' ', '(', ')', '<', '>', '='])
                || fields.iter().any(|field| field.contains(&password))
                || format!("<redacted> (sslmode={})", config.sslmode).contains(&password);
            assert!(incidental || !config.to_string().contains(&password), "password shown: {config}");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
