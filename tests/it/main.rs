//! pgdoor's integration tests: the real binary and client against real
//! PostgreSQL clusters started by the suite.

mod check_cmd;
mod pg_connect;
mod pg_query;
mod support;
