//! Reading one value: durations, sizes, counts and the named choices of the `config_enum!`
//! types, each with an error that names the file and the key.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::Error;

/// Where the configuration came from, for error messages: the file (or the built-in
/// defaults), and the keys the environment set, whose errors name their variable instead.
#[derive(Debug, Clone)]
pub struct Origin {
    pub file: String,
    pub from_env: Vec<String>,
}

impl Origin {
    pub fn err(&self, key: &str, message: impl Into<String>) -> Error {
        Error::Config { file: self.source_of(key), key: key.into(), message: message.into() }
    }

    /// The file, or `environment variable FLOE_…` when the environment set `key`.
    pub fn source_of(&self, key: &str) -> String {
        match self.from_env.iter().any(|k| k == key) {
            true => format!("environment variable {}", super::env::env_name(key)),
            false => self.file.clone(),
        }
    }
    pub fn duration(&self, key: &str, v: Option<String>, default: &str) -> Result<Duration, Error> {
        let s = v.unwrap_or_else(|| default.to_string());
        humantime::parse_duration(&s).map_err(|_| self.err(key, format!("expected a duration like \"30s\", got {s:?}")))
    }
    pub fn bytes(&self, key: &str, v: Option<String>, default: &str) -> Result<u64, Error> {
        let s = v.unwrap_or_else(|| default.to_string());
        parse_bytes(&s).ok_or_else(|| self.err(key, format!("expected a size like \"64MiB\", got {s:?}")))
    }
    pub fn count(&self, key: &str, v: Option<i64>, default: i64, min: i64, max: i64) -> Result<i64, Error> {
        let n = v.unwrap_or(default);
        if n < min || n > max {
            return Err(self.err(key, format!("expected a whole number from {min} to {max}, got {n}")));
        }
        Ok(n)
    }
}

/// A configuration key whose value is one of a few names, parsed by serde (`try_from` a
/// string) so that a wrong name is refused with the list of right ones, and the key named
/// (serde_path_to_error gives the path).
macro_rules! config_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
        #[serde(try_from = "String")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// The names this key accepts.
            pub const NAMES: &'static [&'static str] = &[$($text),+];
            /// This value's name in the configuration.
            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                match s.as_str() {
                    $($text => Ok(Self::$variant),)+
                    _ => Err(format!("expected one of {:?}, got {s:?}", Self::NAMES)),
                }
            }
        }
    };
}
pub(crate) use config_enum;

/// Parse "64MiB", "1 GB", "512k", "1000".
pub fn parse_bytes(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult)
}

pub fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().map(|d| d.join(p)).unwrap_or_else(|_| p.to_path_buf())
    }
}

pub fn file_url(p: &Path) -> String {
    format!("file://{}", absolute(p).display())
}
