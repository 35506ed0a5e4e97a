//! pgdoor's integration tests: the real binary and client against real
//! PostgreSQL clusters started by the suite.

mod api_catalog;
mod api_changes;
mod api_dump;
mod api_export;
mod api_openapi;
mod api_plan;
mod api_script;
mod api_structure;
mod check_backend_cmd;
mod check_cmd;
mod contract;
mod cross_site;
mod demo_cmd;
mod deploy_files;
mod door_connect;
mod door_readonly;
mod door_session;
mod door_upstream;
mod hostile_peers;
mod identity_jwt;
mod memory_caps;
mod observe;
mod pg_connect;
mod pg_query;
mod policy;
mod readme;
mod resolver_exec;
mod resolver_file;
mod resolver_http;
mod session_truth;
mod support;
mod ui_browser;
