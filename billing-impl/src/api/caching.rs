//! Conditional GETs. Every successful GET carries a strong `ETag` made of what decides its
//! answer: the customer, the version of what the API answers of it
//! (`customers.data_version`, which every change to its invoices, groups or subscribers
//! bumps in the change's own transaction, migration 000008), and the request. A request
//! whose `If-None-Match` names the current tag is answered 304 after reading the version
//! alone: no page is read, serialised or sent.

use std::fmt::Write;

use actix_web::http::header::{EntityTag, HeaderValue, from_comma_delimited};
use sha2::{Digest, Sha256};

/// The `Cache-Control` of every answer about a customer: its own, and kept by a client only
/// to be asked for again with `If-None-Match`.
pub const CACHE_CONTROL: &str = "private, no-cache";

/// The content codings an answer may be compressed with, as its tag says: the tag of the
/// uncompressed answer with `-<coding>` appended (as Apache's mod_deflate writes it).
pub const CODINGS: [&str; 2] = ["gzip", "br"];

/// How many bytes of the digest a tag shows (in hex): 96 bits.
const TAG_BYTES: usize = 12;

/// The tag of the answer about the customer `customer_id`, at `version`, to the request
/// `what` (the operation and its parameters).
pub fn etag(customer_id: i64, version: i64, what: &str) -> String {
    let digest = Sha256::new()
        .chain_update(customer_id.to_be_bytes())
        .chain_update(version.to_be_bytes())
        .chain_update(what.as_bytes())
        .finalize();
    let mut tag = String::with_capacity(2 + 2 * TAG_BYTES);
    tag.push('"');
    for byte in &digest[..TAG_BYTES] {
        // Writing to a String cannot fail.
        let _ = write!(tag, "{byte:02x}");
    }
    tag.push('"');
    tag
}

/// Whether `if_none_match` (the header's value) names `etag`: by the weak comparison that
/// RFC 9110 asks of `If-None-Match`, the tag of a compressed answer naming the answer.
pub fn is_current(if_none_match: &str, etag: &str) -> bool {
    if if_none_match.trim() == "*" {
        return true;
    }
    let current = etag.trim_matches('"');
    let Ok(header) = HeaderValue::from_str(if_none_match) else {
        return false;
    };
    let tags: Vec<EntityTag> = from_comma_delimited(std::iter::once(&header)).unwrap_or_default();
    tags.iter().any(|tag| {
        let tag = tag.tag();
        tag == current
            || CODINGS.iter().any(|coding| {
                tag.strip_suffix(coding)
                    .and_then(|tag| tag.strip_suffix('-'))
                    == Some(current)
            })
    })
}

/// `etag` as the tag of its answer compressed with `coding`.
pub fn encoded(etag: &str, coding: &str) -> String {
    match etag.strip_suffix('"') {
        Some(open) => format!("{open}-{coding}\""),
        None => etag.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_depends_on_the_customer_the_version_and_the_request() {
        let tag = etag(1, 7, "bills");
        assert!(
            tag.starts_with('"') && tag.ends_with('"') && tag.len() == 26,
            "{tag}"
        );
        assert_eq!(tag, etag(1, 7, "bills"));
        assert_ne!(tag, etag(2, 7, "bills"));
        assert_ne!(tag, etag(1, 8, "bills"));
        assert_ne!(tag, etag(1, 7, "groups"));
    }

    #[test]
    fn if_none_match_names_a_tag_weakly_and_through_its_codings() {
        let tag = etag(1, 7, "bills");
        assert!(is_current(&tag, &tag));
        assert!(is_current(&format!("W/{tag}"), &tag));
        assert!(is_current(
            &format!("\"other\", {}", encoded(&tag, "gzip")),
            &tag
        ));
        assert!(is_current(&encoded(&tag, "br"), &tag));
        assert!(is_current("*", &tag));
        assert!(!is_current("\"other\"", &tag));
        assert!(!is_current(&encoded(&tag, "zstd"), &tag));
        assert!(!is_current("not a tag", &tag));
    }
}
