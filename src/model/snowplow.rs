//! The Snowplow enriched event: its 131 atomic fields in the canonical order of the tab-separated
//! line enrich writes (the order Snowplow's analytics SDKs read), each with the type Snowplow's
//! loaders give it. A leaf shared by the decoder (silver), the table definition check (catalog)
//! and the generator (source), so the three can never disagree on a field's place or type.

/// How an atomic field is typed (and so checked) — Snowplow's loaders' types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtomicKind {
    /// Any text.
    Text,
    /// A 32-bit integer (`txn_id`, ports, sizes, offsets).
    Int,
    /// A double (`geo_latitude`, `se_value`).
    Double,
    /// Money: `decimal(18,2)` (`tr_total`, `ti_price`, …).
    Decimal,
    /// `1` or `0`.
    Bool,
    /// `YYYY-MM-DD HH:MM:SS[.fff]`, UTC.
    Tstamp,
    /// Self-describing JSON whose `data` is a list of self-describing JSON (`contexts`,
    /// `derived_contexts`).
    Contexts,
    /// Self-describing JSON whose `data` is one self-describing JSON (`unstruct_event`).
    Unstruct,
}

impl AtomicKind {
    /// The Iceberg type the built-in table gives a field of this kind.
    pub fn iceberg_type(self) -> &'static str {
        match self {
            AtomicKind::Text | AtomicKind::Contexts | AtomicKind::Unstruct => "string",
            AtomicKind::Int => "int",
            AtomicKind::Double => "double",
            AtomicKind::Decimal => "decimal(18,2)",
            AtomicKind::Bool => "boolean",
            AtomicKind::Tstamp => "timestamptz",
        }
    }
}

/// How many tab-separated fields an enriched event has.
pub const ATOMIC_FIELD_COUNT: usize = 131;

/// The position of the named atomic field in the line, if it is one.
pub fn atomic_index(name: &str) -> Option<usize> {
    ATOMIC_FIELDS.iter().position(|(n, _)| *n == name)
}

/// An Iglu schema key, `iglu:{vendor}/{name}/{format}/{model}-{revision}-{addition}` — what a
/// self-describing JSON's `schema` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaKey<'a> {
    pub vendor: &'a str,
    pub name: &'a str,
    pub format: &'a str,
    pub version: [u32; 3],
}

impl<'a> SchemaKey<'a> {
    /// Parse a schema URI; `None` when it is not one (the rule Snowplow's SDKs apply: the model
    /// starts at 1, revision and addition have no leading zeros).
    pub fn parse(uri: &'a str) -> Option<Self> {
        let rest = uri.strip_prefix("iglu:")?;
        let mut parts = rest.split('/');
        let (vendor, name, format, version) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let word = |s: &str, dot: bool| {
            !s.is_empty()
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || (dot && b == b'.'))
        };
        if !(word(vendor, true) && word(name, false) && word(format, false)) {
            return None;
        }
        let mut v = [0u32; 3];
        let mut nums = version.split('-');
        for (i, slot) in v.iter_mut().enumerate() {
            let n = nums.next()?;
            let leading_zero = n.len() > 1 && n.starts_with('0');
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) || leading_zero || (i == 0 && n == "0") {
                return None;
            }
            *slot = n.parse().ok()?;
        }
        if nums.next().is_some() {
            return None;
        }
        Some(Self { vendor, name, format, version: v })
    }
}

use AtomicKind::*;

/// The atomic fields, in the line's order.
pub const ATOMIC_FIELDS: [(&str, AtomicKind); ATOMIC_FIELD_COUNT] = [
    ("app_id", Text),
    ("platform", Text),
    ("etl_tstamp", Tstamp),
    ("collector_tstamp", Tstamp),
    ("dvce_created_tstamp", Tstamp),
    ("event", Text),
    ("event_id", Text),
    ("txn_id", Int),
    ("name_tracker", Text),
    ("v_tracker", Text),
    ("v_collector", Text),
    ("v_etl", Text),
    ("user_id", Text),
    ("user_ipaddress", Text),
    ("user_fingerprint", Text),
    ("domain_userid", Text),
    ("domain_sessionidx", Int),
    ("network_userid", Text),
    ("geo_country", Text),
    ("geo_region", Text),
    ("geo_city", Text),
    ("geo_zipcode", Text),
    ("geo_latitude", Double),
    ("geo_longitude", Double),
    ("geo_region_name", Text),
    ("ip_isp", Text),
    ("ip_organization", Text),
    ("ip_domain", Text),
    ("ip_netspeed", Text),
    ("page_url", Text),
    ("page_title", Text),
    ("page_referrer", Text),
    ("page_urlscheme", Text),
    ("page_urlhost", Text),
    ("page_urlport", Int),
    ("page_urlpath", Text),
    ("page_urlquery", Text),
    ("page_urlfragment", Text),
    ("refr_urlscheme", Text),
    ("refr_urlhost", Text),
    ("refr_urlport", Int),
    ("refr_urlpath", Text),
    ("refr_urlquery", Text),
    ("refr_urlfragment", Text),
    ("refr_medium", Text),
    ("refr_source", Text),
    ("refr_term", Text),
    ("mkt_medium", Text),
    ("mkt_source", Text),
    ("mkt_term", Text),
    ("mkt_content", Text),
    ("mkt_campaign", Text),
    ("contexts", Contexts),
    ("se_category", Text),
    ("se_action", Text),
    ("se_label", Text),
    ("se_property", Text),
    ("se_value", Double),
    ("unstruct_event", Unstruct),
    ("tr_orderid", Text),
    ("tr_affiliation", Text),
    ("tr_total", Decimal),
    ("tr_tax", Decimal),
    ("tr_shipping", Decimal),
    ("tr_city", Text),
    ("tr_state", Text),
    ("tr_country", Text),
    ("ti_orderid", Text),
    ("ti_sku", Text),
    ("ti_name", Text),
    ("ti_category", Text),
    ("ti_price", Decimal),
    ("ti_quantity", Int),
    ("pp_xoffset_min", Int),
    ("pp_xoffset_max", Int),
    ("pp_yoffset_min", Int),
    ("pp_yoffset_max", Int),
    ("useragent", Text),
    ("br_name", Text),
    ("br_family", Text),
    ("br_version", Text),
    ("br_type", Text),
    ("br_renderengine", Text),
    ("br_lang", Text),
    ("br_features_pdf", Bool),
    ("br_features_flash", Bool),
    ("br_features_java", Bool),
    ("br_features_director", Bool),
    ("br_features_quicktime", Bool),
    ("br_features_realplayer", Bool),
    ("br_features_windowsmedia", Bool),
    ("br_features_gears", Bool),
    ("br_features_silverlight", Bool),
    ("br_cookies", Bool),
    ("br_colordepth", Text),
    ("br_viewwidth", Int),
    ("br_viewheight", Int),
    ("os_name", Text),
    ("os_family", Text),
    ("os_manufacturer", Text),
    ("os_timezone", Text),
    ("dvce_type", Text),
    ("dvce_ismobile", Bool),
    ("dvce_screenwidth", Int),
    ("dvce_screenheight", Int),
    ("doc_charset", Text),
    ("doc_width", Int),
    ("doc_height", Int),
    ("tr_currency", Text),
    ("tr_total_base", Decimal),
    ("tr_tax_base", Decimal),
    ("tr_shipping_base", Decimal),
    ("ti_currency", Text),
    ("ti_price_base", Decimal),
    ("base_currency", Text),
    ("geo_timezone", Text),
    ("mkt_clickid", Text),
    ("mkt_network", Text),
    ("etl_tags", Text),
    ("dvce_sent_tstamp", Tstamp),
    ("refr_domain_userid", Text),
    ("refr_device_tstamp", Tstamp),
    ("derived_contexts", Contexts),
    ("domain_sessionid", Text),
    ("derived_tstamp", Tstamp),
    ("event_vendor", Text),
    ("event_name", Text),
    ("event_format", Text),
    ("event_version", Text),
    ("event_fingerprint", Text),
    ("true_tstamp", Tstamp),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_canonical_order_has_every_field_once() {
        let mut names: Vec<_> = ATOMIC_FIELDS.iter().map(|(n, _)| *n).collect();
        assert_eq!((names[0], names[130]), ("app_id", "true_tstamp"));
        assert_eq!(atomic_index("event_id"), Some(6));
        assert_eq!(atomic_index("collector_tstamp"), Some(3));
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ATOMIC_FIELD_COUNT);
    }

    #[test]
    fn schema_keys_parse_as_the_sdks_read_them() {
        let k = SchemaKey::parse("iglu:com.acme-corp_x/link_click-2/jsonschema/1-10-0").unwrap();
        assert_eq!(
            (k.vendor, k.name, k.format, k.version),
            ("com.acme-corp_x", "link_click-2", "jsonschema", [1, 10, 0])
        );
        for bad in [
            "iglu:com.acme/x/jsonschema/0-1-0",
            "iglu:com.acme/x/jsonschema/1-01-0",
            "iglu:com.acme/x/jsonschema/1-0",
            "iglu:com.acme/x/jsonschema/1-0-0-0",
            "iglu:com.acme/x.y/jsonschema/1-0-0",
            "iglu:com.acme/x/jsonschema/1-0-0/extra",
            "com.acme/x/jsonschema/1-0-0",
            "iglu:/x/jsonschema/1-0-0",
        ] {
            assert_eq!(SchemaKey::parse(bad), None, "{bad}");
        }
    }
}
