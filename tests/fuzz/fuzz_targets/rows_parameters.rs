//! The rows API's table, filter, sort and paging parameters: the SQL built
//! from them never lets user text out of its quoting.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| pgdoor_proxy::fuzz::rows_parameters(input));
