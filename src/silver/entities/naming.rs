//! Column and field names of the per-schema columns, as Snowplow's Lake Loader names them, so a
//! query written against a Lake Loader table runs on floe's.

use crate::iglu::Envelope;
use crate::model::snowplow::SchemaKey;

/// The field every element of a `contexts_…` list starts with: the entity's full version.
pub const SCHEMA_VERSION: &str = "_schema_version";

/// `unstruct_event_<vendor>_<name>_<model>` or `contexts_<vendor>_<name>_<model>`: the
/// vendor's `.` and `-` become `_`, the name is snake-cased, everything lower-case.
pub fn column_name(envelope: Envelope, key: &SchemaKey<'_>) -> String {
    let prefix = match envelope {
        Envelope::Unstruct => "unstruct_event",
        Envelope::Contexts => "contexts",
    };
    let vendor: String =
        key.vendor.chars().map(|c| if c == '.' || c == '-' { '_' } else { c.to_ascii_lowercase() }).collect();
    format!("{prefix}_{vendor}_{}_{}", snake_case(key.name), key.version[0])
}

/// `camelCase`, `PascalCase`, `kebab-case` and `dotted.name` → `snake_case`: an underscore
/// before an upper-case letter that follows a lower-case letter or a digit, or that starts a
/// word before a lower-case one (`HTTPRequest` → `http_request`); `-`, `.` and spaces become `_`.
pub fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c == '-' || c == '.' || c == ' ' {
            out.push('_');
            continue;
        }
        if c.is_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if prev.is_lowercase() || prev.is_ascii_digit() || (prev.is_uppercase() && next_lower) {
                out.push('_');
            }
        }
        out.extend(c.to_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_lake_loader() {
        let key = SchemaKey::parse("iglu:com.snowplowanalytics.snowplow/link_click/jsonschema/1-0-1").unwrap();
        assert_eq!(column_name(Envelope::Unstruct, &key), "unstruct_event_com_snowplowanalytics_snowplow_link_click_1");
        let key = SchemaKey::parse("iglu:com.acme-corp/AddToCart/jsonschema/2-1-0").unwrap();
        assert_eq!(column_name(Envelope::Contexts, &key), "contexts_com_acme_corp_add_to_cart_2");
        for (name, snake) in [
            ("userId", "user_id"),
            ("HTTPRequest", "http_request"),
            ("page-url", "page_url"),
            ("already_snake", "already_snake"),
            ("v2Value", "v2_value"),
            ("sku2", "sku2"),
            ("a.b", "a_b"),
        ] {
            assert_eq!(snake_case(name), snake, "{name}");
        }
    }
}
