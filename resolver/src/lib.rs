//! Credential resolvers for pgdoor: given a resource name from `/connect/<resource>`,
//! find the database URL to connect with. Filled in by the resolver issue.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
