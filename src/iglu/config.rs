//! The resolver configuration, in the format Snowplow's tools read (`resolver.json`, schema
//! `iglu:com.snowplowanalytics.iglu/resolver-config/jsonschema/1-0-x`): the repositories to look
//! schemas up in, their priorities and vendor prefixes, and how long a lookup is cached.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};

/// One repository: an Iglu static registry over HTTP(S), or a local directory in the Iglu layout
/// (`schemas/{vendor}/{name}/{format}/{version}`).
#[derive(Debug, Clone, PartialEq)]
pub struct Repository {
    pub name: String,
    pub priority: i64,
    pub vendor_prefixes: Vec<String>,
    pub location: Location,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Location {
    /// A static registry's base URI (`{uri}/schemas/…`), with the API key a private one needs.
    Http { uri: String, api_key: Option<String> },
    /// A directory holding `schemas/…` (relative paths are taken from the resolver file's folder).
    Directory(PathBuf),
}

impl Repository {
    /// Whether the repository claims the vendor (a prefix matches).
    pub fn claims(&self, vendor: &str) -> bool {
        self.vendor_prefixes.iter().any(|p| vendor.starts_with(p.as_str()))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResolverConfig {
    pub repositories: Vec<Repository>,
    /// How long a lookup (found or not) is kept; `None`: for the life of the process.
    pub cache_ttl: Option<Duration>,
}

#[derive(Deserialize)]
struct File {
    schema: String,
    data: Data,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    #[serde(default)]
    cache_ttl: Option<u64>,
    repositories: Vec<RawRepository>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRepository {
    name: String,
    priority: f64,
    #[serde(default)]
    vendor_prefixes: Vec<String>,
    connection: Connection,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
enum Connection {
    Embedded { path: String },
    Http { uri: String, apikey: Option<String> },
}

impl ResolverConfig {
    /// Read a resolver file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, base).map_err(|m| Error::Config {
            file: path.display().to_string(),
            key: "silver.iglu_resolver".into(),
            message: m,
        })
    }

    /// Parse a resolver file's text; relative directories are taken from `base`.
    pub fn parse(text: &str, base: &Path) -> std::result::Result<Self, String> {
        let file: File = serde_json::from_str(text).map_err(|e| format!("not a resolver configuration: {e}"))?;
        if !file.schema.starts_with("iglu:com.snowplowanalytics.iglu/resolver-config/jsonschema/1-") {
            return Err(format!("schema {:?} is not a resolver configuration (resolver-config 1-x-x)", file.schema));
        }
        if file.data.repositories.is_empty() {
            return Err("no repositories".into());
        }
        let repositories = file
            .data
            .repositories
            .into_iter()
            .map(|r| {
                let location = match r.connection {
                    Connection::Embedded { path } => Location::Directory(base.join(path)),
                    Connection::Http { uri, apikey } => {
                        if !(uri.starts_with("http://") || uri.starts_with("https://")) {
                            return Err(format!("repository {}: uri {uri:?} is not http(s)://", r.name));
                        }
                        Location::Http { uri: uri.trim_end_matches('/').to_string(), api_key: apikey }
                    }
                };
                Ok(Repository {
                    name: r.name,
                    priority: r.priority as i64,
                    vendor_prefixes: r.vendor_prefixes,
                    location,
                })
            })
            .collect::<std::result::Result<Vec<_>, String>>()?;
        Ok(Self { repositories, cache_ttl: file.data.cache_ttl.map(Duration::from_secs) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snowplow_resolver_file_parses() {
        let text = r#"{"schema":"iglu:com.snowplowanalytics.iglu/resolver-config/jsonschema/1-0-1","data":{
          "cacheSize":500,"cacheTtl":600,"repositories":[
            {"name":"Iglu Central","priority":0,"vendorPrefixes":["com.snowplowanalytics"],"connection":{"http":{"uri":"http://iglucentral.com/"}}},
            {"name":"local","priority":1,"vendorPrefixes":[],"connection":{"embedded":{"path":"iglu"}}}]}}"#;
        let c = ResolverConfig::parse(text, Path::new("/etc/floe")).unwrap();
        assert_eq!(c.cache_ttl, Some(Duration::from_secs(600)));
        assert_eq!(c.repositories[0].location, Location::Http { uri: "http://iglucentral.com".into(), api_key: None });
        assert!(c.repositories[0].claims("com.snowplowanalytics.snowplow"));
        assert_eq!(c.repositories[1].location, Location::Directory("/etc/floe/iglu".into()));
        let e = ResolverConfig::parse(
            r#"{"schema":"iglu:x/y/jsonschema/1-0-0","data":{"repositories":[]}}"#,
            Path::new("."),
        )
        .unwrap_err();
        assert!(e.contains("not a resolver configuration"), "{e}");
        let e = ResolverConfig::parse(&text.replace("http://iglucentral.com/", "ftp://x"), Path::new(".")).unwrap_err();
        assert!(e.contains("is not http(s)://"), "{e}");
    }
}
