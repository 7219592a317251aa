//! Iglu: the schema registries Snowplow's data contracts live in, and the contracts themselves.
//!
//! - [`config`]: the resolver file (`resolver.json`, Snowplow's format).
//! - [`registry`]: one lookup in one repository (a local directory or a static HTTP registry).
//! - [`resolver`]: key → compiled schema, in Snowplow's repository order, cached with a TTL.
//! - [`contracts`]: a field's self-describing JSON checked against its schemas.

pub mod config;
pub mod contracts;
pub mod registry;
pub mod resolver;

pub use contracts::{Contracts, Envelope, MissingSchema};
