//! Conditional GETs (RFC 9110 §13.1.2). Every successful GET about a customer carries a
//! strong `ETag` made of what decides its answer: the customer, the version of what the API
//! answers of it (`customers.data_version`, which every committed change to its invoices,
//! groups or subscribers moves, docs/design.md), and the request. An answer and its tag
//! are read from one snapshot, so that a tag is only ever given to the body it describes.
//!
//! `answer` is the one way a GET is answered: a request whose `If-None-Match` names the
//! current tag is answered 304 after reading the tag alone, when the operation can read it
//! cheaply (the customer's version); `*` is answered 304 only once the answer has been
//! read, so that a resource that does not exist stays a 404.

use std::{fmt::Write, future::Future};

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

/// `etag` as the tag of its answer compressed with `coding`.
pub fn encoded(etag: &str, coding: &str) -> String {
    match etag.strip_suffix('"') {
        Some(open) => format!("{open}-{coding}\""),
        None => etag.to_owned(),
    }
}

/// A request's `If-None-Match`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfNoneMatch {
    /// No such header: the answer is sent whatever it is.
    Absent,
    /// `*`: any current answer will do.
    Any,
    /// A list of tags (as the client sent it).
    Tags(String),
}

impl IfNoneMatch {
    /// The condition of the header's value, if there is one.
    pub fn new(header: Option<String>) -> Self {
        match header {
            None => Self::Absent,
            Some(value) if value.trim() == "*" => Self::Any,
            Some(value) => Self::Tags(value),
        }
    }

    /// Whether an answer tagged `etag` is one the client has: by the weak comparison that
    /// RFC 9110 asks of `If-None-Match` (`W/` ignored), the tag of a compressed answer
    /// naming the answer in any coding (the same data, whichever coding carried it).
    pub fn names(&self, etag: &str) -> bool {
        let tags = match self {
            Self::Absent => return false,
            Self::Any => return true,
            Self::Tags(tags) => tags,
        };
        let current = etag.trim_matches('"');
        let Ok(header) = HeaderValue::from_str(tags) else {
            return false;
        };
        let tags: Vec<EntityTag> =
            from_comma_delimited(std::iter::once(&header)).unwrap_or_default();
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
}

/// What a conditional GET answers.
#[derive(Debug)]
pub enum Answer<T> {
    /// The answer, with its tag.
    Full { body: T, etag: String },
    /// The client's copy is current: the tag alone.
    NotModified { etag: String },
}

/// Answers a GET whose `If-None-Match` is `condition`. `current_tag` reads the answer's
/// tag as it stands now, in one statement, when that is cheaper than the answer (`None`:
/// no such resource, or no cheap way to tell); `read` reads the answer and its tag from one
/// snapshot, or fails as the GET fails (a 404 stays a 404, whatever the condition).
pub async fn answer<T, E, Current, CurrentTag, Read, Reading>(
    condition: IfNoneMatch,
    current_tag: Current,
    read: Read,
) -> Result<Answer<T>, E>
where
    Current: FnOnce() -> CurrentTag,
    CurrentTag: Future<Output = Result<Option<String>, E>>,
    Read: FnOnce() -> Reading,
    Reading: Future<Output = Result<(T, String), E>>,
{
    if matches!(condition, IfNoneMatch::Tags(_))
        && let Some(etag) = current_tag().await?
        && condition.names(&etag)
    {
        return Ok(Answer::NotModified { etag });
    }
    let (body, etag) = read().await?;
    if condition.names(&etag) {
        return Ok(Answer::NotModified { etag });
    }
    Ok(Answer::Full { body, etag })
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
        let names = |header: &str| IfNoneMatch::new(Some(header.to_owned())).names(&tag);
        assert!(names(&tag));
        assert!(names(&format!("W/{tag}")));
        assert!(names(&format!("\"other\", {}", encoded(&tag, "gzip"))));
        assert!(names(&encoded(&tag, "br")));
        assert!(names(" * "));
        assert!(!names("\"other\""));
        assert!(!names(&encoded(&tag, "zstd")));
        assert!(!names("not a tag"));
        assert!(!IfNoneMatch::Absent.names(&tag));
    }

    /// Runs `answer` with a current tag of `current` and an answer tagged `read`.
    fn run(condition: &str, current: Option<&str>, read: Result<&str, ()>) -> String {
        let condition = IfNoneMatch::new(Some(condition.to_owned()));
        let current = current.map(str::to_owned);
        let read = read.map(|tag| ("body", tag.to_owned()));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let answered = runtime.block_on(answer(
            condition,
            || async { Ok(current) },
            || async { read },
        ));
        match answered {
            Ok(Answer::Full { etag, .. }) => format!("200 {etag}"),
            Ok(Answer::NotModified { etag }) => format!("304 {etag}"),
            Err(()) => "404".to_owned(),
        }
    }

    #[test]
    fn a_star_is_answered_only_once_the_answer_is_read() {
        assert_eq!(run("*", Some("\"a\""), Ok("\"a\"")), "304 \"a\"");
        assert_eq!(run("*", None, Err(())), "404");
        assert_eq!(run("\"a\"", Some("\"a\""), Err(())), "304 \"a\"");
        assert_eq!(run("\"a\"", Some("\"b\""), Ok("\"b\"")), "200 \"b\"");
        assert_eq!(run("\"a\"", None, Ok("\"a\"")), "304 \"a\"");
        assert_eq!(run("\"a\"", None, Err(())), "404");
    }
}
