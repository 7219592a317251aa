//! The resolver: a schema key → its compiled validator, looked up in the repositories in
//! Snowplow's order and cached (found or not) for the configured TTL.
//!
//! Decoding is synchronous and runs on blocking threads, so [`Resolver::resolve`] blocks: a
//! cached key costs one read-locked map lookup; a new key is fetched on a thread of its own
//! that drives the async lookup on the process's runtime (never on a runtime worker, where
//! blocking would stall the daemon).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use super::config::{Location, Repository, ResolverConfig};
use super::registry::{Answer, lookup};
use crate::error::{Error, Result};
use crate::model::snowplow::SchemaKey;

/// What the registries hold for a key.
#[derive(Clone)]
pub enum Resolved {
    Schema(Arc<Compiled>),
    /// No repository has it (the repositories asked, for the bad row's detail).
    NotFound(String),
    /// A repository has it, but it is not a JSON Schema this validator can compile.
    Unusable(String),
}

/// A schema as the registry holds it, and compiled for validation.
pub struct Compiled {
    pub validator: jsonschema::Validator,
    /// The schema's JSON: what the per-schema columns are typed from (`silver::entities`).
    pub raw: serde_json::Value,
}

pub struct Resolver {
    config: ResolverConfig,
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
    cache: RwLock<HashMap<String, (Resolved, Instant)>>,
    /// Held while a key is fetched, so decode threads that miss the same key at once ask the
    /// registries once (the second finds it cached).
    fetching: Mutex<()>,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver").field("repositories", &self.config.repositories.len()).finish()
    }
}

impl Resolver {
    /// A resolver on the current Tokio runtime (call from async code).
    pub fn new(config: ResolverConfig) -> Result<Self> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::invalid("the Iglu resolver needs a Tokio runtime"))?;
        let client = reqwest::Client::builder()
            .user_agent(concat!("floe/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::invalid(format!("HTTP client for the Iglu registries: {e}")))?;
        Ok(Self { config, client, runtime, cache: RwLock::new(HashMap::new()), fetching: Mutex::new(()) })
    }

    /// The repositories in the order a key is looked up: those claiming its vendor first, then
    /// local directories before HTTP, then by priority (lower first) — Snowplow's resolver order.
    fn ordered(&self, vendor: &str) -> Vec<&Repository> {
        let mut repos: Vec<&Repository> = self.config.repositories.iter().collect();
        repos.sort_by_key(|r| (!r.claims(vendor), matches!(r.location, Location::Http { .. }), r.priority));
        repos
    }

    /// The schema for `key` (blocking; see the module doc). An error means a registry did not
    /// answer: the caller must not turn that into bad rows.
    pub fn resolve(&self, key: &SchemaKey<'_>, uri: &str) -> Result<Resolved> {
        if let Some(hit) = self.cached(uri) {
            return Ok(hit);
        }
        let _one_at_a_time = self.fetching.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(hit) = self.cached(uri) {
            return Ok(hit);
        }
        let fetched = std::thread::scope(|s| {
            s.spawn(|| self.runtime.block_on(self.fetch(key)))
                .join()
                .unwrap_or_else(|_| Err(Error::invalid("an Iglu lookup thread panicked")))
        })?;
        if let Ok(mut cache) = self.cache.write() {
            cache.insert(uri.to_string(), (fetched.clone(), Instant::now()));
        }
        Ok(fetched)
    }

    fn cached(&self, uri: &str) -> Option<Resolved> {
        let cache = self.cache.read().ok()?;
        let (hit, at) = cache.get(uri)?;
        match self.config.cache_ttl {
            Some(ttl) if at.elapsed() >= ttl => None,
            _ => Some(hit.clone()),
        }
    }

    async fn fetch(&self, key: &SchemaKey<'_>) -> Result<Resolved> {
        let mut asked = Vec::new();
        for repo in self.ordered(key.vendor) {
            match lookup(&self.client, repo, key).await {
                Ok(Answer::Found(schema)) => return Ok(compile(schema, &repo.name)),
                Ok(Answer::NotFound) => asked.push(repo.name.clone()),
                Ok(Answer::NotJson(why)) => return Ok(Resolved::Unusable(format!("in {}: {why}", repo.name))),
                Err(e) => return Err(Error::Registry(e)),
            }
        }
        Ok(Resolved::NotFound(format!("not found in {}", asked.join(", "))))
    }
}

/// Compile an Iglu schema as JSON Schema draft 4 (what Iglu schemas are written in). Their
/// `$schema` names Iglu's meta-schema, which is not a draft this validator knows: it goes.
fn compile(mut schema: serde_json::Value, repo: &str) -> Resolved {
    if let Some(o) = schema.as_object_mut() {
        o.remove("$schema");
    }
    match jsonschema::options().with_draft(jsonschema::Draft::Draft4).build(&schema) {
        Ok(validator) => Resolved::Schema(Arc::new(Compiled { validator, raw: schema })),
        Err(e) => Resolved::Unusable(format!("the schema in {repo} does not compile: {e}")),
    }
}
