//! pgdoor's server side. For now this holds [`pg`], the PostgreSQL client
//! every other part stands on.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod pg;
