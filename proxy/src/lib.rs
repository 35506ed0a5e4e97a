//! pgdoor's server side: the PostgreSQL client ([`pg`]), and the front door
//! that turns `/connect/<resource>` into a session for one browser tab and
//! answers the pgweb-compatible API on it.
//!
//! The binary builds a [`DoorConfig`] from its flags and calls [`run`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod api;
mod app;
mod binding;
pub mod config;
mod connect;
mod door;
#[cfg(feature = "fuzzing")]
pub mod fuzz;
mod http;
mod intake;
pub mod jwt;
mod observe;
mod page;
mod peer;
pub mod pg;
mod rescue;
mod server;
pub mod session;
mod shutdown;
mod ui;

pub use config::{DoorConfig, TlsFiles, Upstream};
pub use server::{StartError, run};
