//! Object stores by URL, for what floe reads and writes outside Iceberg's FileIO: bronze objects,
//! and the listings of a table's directory that orphan removal needs (FileIO cannot list).

use std::path::PathBuf;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::path::Path as ObjPath;

use crate::aws::S3Settings;
use crate::error::Result;

/// A store, the prefix under it, and for local paths the directory itself.
pub type Opened = (Arc<dyn ObjectStore>, ObjPath, Option<PathBuf>);

/// The store at `url` (`s3://bucket/prefix`, `file:///dir` or an absolute path), or `None` for
/// another scheme; a local directory that does not exist yet is created (bronze on its first run).
/// For `s3://` the region, endpoint and addressing style come from `s3` (resolved
/// as the SDK would, `crate::aws`) and credentials from the standard AWS chain (object_store
/// reads the same variables and container credentials the SDK does).
pub fn open(url: &str, s3: &S3Settings) -> Result<Option<Opened>> {
    let local = url.strip_prefix("file://").or_else(|| url.starts_with('/').then_some(url));
    if let Some(path) = local {
        let root = PathBuf::from(path);
        if !root.exists() {
            std::fs::create_dir_all(&root).map_err(|e| crate::error::Error::io(&root, e))?;
        }
        let store = object_store::local::LocalFileSystem::new_with_prefix(&root)?;
        return Ok(Some((Arc::new(store), ObjPath::default(), Some(root))));
    }
    let Some(rest) = url.strip_prefix("s3://").or_else(|| url.strip_prefix("s3a://")) else { return Ok(None) };
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let mut builder = object_store::aws::AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_virtual_hosted_style_request(!s3.path_style)
        .with_allow_http(s3.allow_http);
    if let Some(region) = &s3.region {
        builder = builder.with_region(region);
    }
    if let Some(endpoint) = &s3.endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    Ok(Some((Arc::new(builder.build()?), ObjPath::from(prefix.trim_end_matches('/')), None)))
}
