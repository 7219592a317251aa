//! Looking one schema up in one repository: a file in a local directory, or a GET on a static
//! registry. "Not there" is an answer; a registry that does not answer (connection refused,
//! 5xx after retries) is an error — the batch waits for it rather than turning good events into
//! bad rows. A schema that is there but not JSON is the registry's content, not its health: the
//! events that need it become bad rows (`invalid_schema`) and can be re-driven after a fix.

use std::time::Duration;

use super::config::{Location, Repository};
use crate::model::snowplow::SchemaKey;

/// What one repository said about one schema.
#[derive(Debug)]
pub enum Answer {
    Found(serde_json::Value),
    NotFound,
    /// There, but not JSON (what is wrong with it).
    NotJson(String),
}

/// The schema's path below `schemas/`, as Iglu lays registries out.
pub fn schema_path(key: &SchemaKey) -> String {
    let [m, r, a] = key.version;
    format!("{}/{}/{}/{m}-{r}-{a}", key.vendor, key.name, key.format)
}

/// Ask `repo` for `key`.
pub async fn lookup(client: &reqwest::Client, repo: &Repository, key: &SchemaKey<'_>) -> Result<Answer, String> {
    let path = schema_path(key);
    match &repo.location {
        Location::Directory(dir) => {
            let file = dir.join("schemas").join(&path);
            match tokio::fs::read(&file).await {
                Ok(bytes) => Ok(serde_json::from_slice(&bytes)
                    .map_or_else(|e| Answer::NotJson(format!("{} is not JSON: {e}", file.display())), Answer::Found)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Answer::NotFound),
                Err(e) => Err(format!("{}: reading {}: {e}", repo.name, file.display())),
            }
        }
        Location::Http { uri, api_key } => {
            let url = format!("{uri}/schemas/{path}");
            let mut last = String::new();
            for attempt in 0..3u32 {
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                }
                let mut req = client.get(&url).timeout(Duration::from_secs(5));
                if let Some(k) = api_key {
                    req = req.header("apikey", k);
                }
                match req.send().await {
                    Ok(resp) if resp.status().is_success() => {
                        let body = resp.bytes().await.map_err(|e| format!("{}: GET {url}: {e}", repo.name))?;
                        return Ok(serde_json::from_slice(&body)
                            .map_or_else(|e| Answer::NotJson(format!("{url} is not JSON: {e}")), Answer::Found));
                    }
                    Ok(resp) if resp.status() == reqwest::StatusCode::NOT_FOUND => return Ok(Answer::NotFound),
                    Ok(resp) if resp.status().is_client_error() => {
                        return Err(format!("{}: GET {url}: HTTP {}", repo.name, resp.status()));
                    }
                    Ok(resp) => last = format!("HTTP {}", resp.status()),
                    Err(e) => last = e.to_string(),
                }
            }
            Err(format!("{}: GET {url} failed 3 times: {last}", repo.name))
        }
    }
}
