//! Compressed answers, in br or gzip as the request's `Accept-Encoding` prefers them.
//! `BILLING_COMPRESSION=off` leaves it to a proxy in front.
//!
//! What is done to an answer is decided by `plan`, from its status and headers alone,
//! never its body: so a 304, which has no body, carries the `ETag` and `Vary` its 200
//! would (RFC 9110 §15.4.5). A tagged answer (one with an `ETag`: a GET about a customer)
//! is compressed whenever a coding is negotiated, whatever its length, and its tag says
//! the coding (`conditional::encoded`). Any other JSON answer is compressed from 1 KiB on
//! (shorter ones gain too little), and says `Vary: Accept-Encoding` either way.
//!
//! The levels are the cheapest of each: on a first page of 20 bills (12,083 bytes), one
//! compression took 11 µs to 1,898 bytes with gzip level 1 (zlib-rs), 35 µs to 1,141 with
//! level 6; 20 µs to 1,618 bytes with brotli quality 1, 65 µs to 971 with quality 5 (one
//! core, the mean of 2,000).

use std::io::Write;

use actix_web::{
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::{
        StatusCode,
        header::{self, AcceptEncoding, ContentEncoding, Encoding, Header, HeaderMap, HeaderValue},
    },
    middleware::Next,
};

use super::conditional;

/// Untagged answers shorter than this are sent as they are: compressing them saves too
/// little.
pub const COMPRESS_FROM_BYTES: usize = 1024;
/// gzip's level (1 to 9).
const GZIP_LEVEL: u32 = 1;
/// brotli's quality (0 to 11).
const BROTLI_QUALITY: u32 = 1;

/// The codings offered, in the server's order of preference when the client has none.
const OFFERED: [Encoding; 3] = [Encoding::brotli(), Encoding::gzip(), Encoding::identity()];

/// What is done to an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// Sent as it is, without `Vary`: not JSON, or already encoded.
    AsIs,
    /// Says `Vary: Accept-Encoding`; with `coding`, its tag (if any) says the coding, and a
    /// body of `from_bytes` or more is compressed.
    Negotiated {
        coding: Option<ContentEncoding>,
        from_bytes: usize,
    },
}

/// The one predicate of what is compressed (after dropshot's `should_compress_response`):
/// decided by the answer's status and headers and the coding negotiated, never its body.
fn plan(status: StatusCode, headers: &HeaderMap, coding: Option<ContentEncoding>) -> Plan {
    if headers.contains_key(header::CONTENT_ENCODING) {
        return Plan::AsIs;
    }
    let tagged = headers.contains_key(header::ETAG)
        && (status == StatusCode::OK || status == StatusCode::NOT_MODIFIED);
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    match (tagged, is_json) {
        (true, _) => Plan::Negotiated {
            coding,
            from_bytes: 0,
        },
        (false, true) => Plan::Negotiated {
            coding,
            from_bytes: COMPRESS_FROM_BYTES,
        },
        (false, false) => Plan::AsIs,
    }
}

/// The coding `request` prefers among those offered; `None` for identity.
fn negotiate(request: &ServiceRequest) -> Option<ContentEncoding> {
    let accepted = AcceptEncoding::parse(request).ok()?;
    match accepted.negotiate(OFFERED.iter())? {
        Encoding::Known(ContentEncoding::Brotli) => Some(ContentEncoding::Brotli),
        Encoding::Known(ContentEncoding::Gzip) => Some(ContentEncoding::Gzip),
        _ => None,
    }
}

/// Compresses the answer to `request` as its `Accept-Encoding` prefers and `plan` decides.
pub async fn compress(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let negotiated = negotiate(&request);
    let mut response = next.call(request).await?.map_into_boxed_body();
    let Plan::Negotiated { coding, from_bytes } =
        plan(response.status(), response.headers(), negotiated)
    else {
        return Ok(response);
    };
    let headers = response.headers_mut();
    headers.append(header::VARY, HeaderValue::from_static("accept-encoding"));
    let Some(coding) = coding else {
        return Ok(response);
    };
    if let Some(etag) = headers.get(header::ETAG).and_then(|tag| tag.to_str().ok()) {
        let tagged = conditional::encoded(etag, coding.as_str());
        if let Ok(tagged) = HeaderValue::try_from(tagged) {
            headers.insert(header::ETAG, tagged);
        }
    }
    if response.status() == StatusCode::NOT_MODIFIED {
        return Ok(response);
    }
    let (request, response) = response.into_parts();
    let (mut head, body) = response.into_parts();
    let bytes = match body.try_into_bytes() {
        Ok(bytes) if bytes.len() >= from_bytes => bytes,
        Ok(bytes) => {
            return Ok(ServiceResponse::new(
                request,
                head.set_body(BoxBody::new(bytes)),
            ));
        }
        Err(body) => return Ok(ServiceResponse::new(request, head.set_body(body))),
    };
    let compressed = encode(coding, &bytes)?;
    head.headers_mut().insert(
        header::CONTENT_ENCODING,
        HeaderValue::from_static(coding.as_str()),
    );
    Ok(ServiceResponse::new(
        request,
        head.set_body(BoxBody::new(compressed)),
    ))
}

/// `bytes` compressed with `coding` (br or gzip).
fn encode(coding: ContentEncoding, bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len() / 4);
    if coding == ContentEncoding::Brotli {
        let mut writer = brotli::CompressorWriter::new(&mut out, 4096, BROTLI_QUALITY, 22);
        writer.write_all(bytes)?;
        writer.flush()?;
        drop(writer);
        return Ok(out);
    }
    let mut writer = flate2::write::GzEncoder::new(out, flate2::Compression::new(GZIP_LEVEL));
    writer.write_all(bytes)?;
    writer.finish()
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn both_codings_give_back_what_they_were_given() {
        let page = br#"{"invoice":[{"invoiceNumber":"1"}]}"#.repeat(100);
        let gzip = encode(ContentEncoding::Gzip, &page).expect("gzip");
        let mut unzipped = Vec::new();
        flate2::read::GzDecoder::new(&gzip[..])
            .read_to_end(&mut unzipped)
            .expect("gunzip");
        assert_eq!(unzipped, page);
        let br = encode(ContentEncoding::Brotli, &page).expect("br");
        let mut unbrotlied = Vec::new();
        brotli::Decompressor::new(&br[..], 4096)
            .read_to_end(&mut unbrotlied)
            .expect("unbrotli");
        assert_eq!(unbrotlied, page);
        assert!(gzip.len() < page.len() / 4 && br.len() < page.len() / 4);
    }

    fn headers(pairs: &[(header::HeaderName, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(name.clone(), HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn a_tagged_answer_and_its_304_are_planned_alike_whatever_the_length() {
        let gzip = Some(ContentEncoding::Gzip);
        let ok = headers(&[
            (header::ETAG, "\"t\""),
            (header::CONTENT_TYPE, "application/json"),
        ]);
        let not_modified = headers(&[(header::ETAG, "\"t\"")]);
        let tagged = Plan::Negotiated {
            coding: gzip,
            from_bytes: 0,
        };
        assert_eq!(plan(StatusCode::OK, &ok, gzip), tagged);
        assert_eq!(plan(StatusCode::NOT_MODIFIED, &not_modified, gzip), tagged);
        let json = headers(&[(header::CONTENT_TYPE, "application/json")]);
        assert_eq!(
            plan(StatusCode::NOT_FOUND, &json, gzip),
            Plan::Negotiated {
                coding: gzip,
                from_bytes: COMPRESS_FROM_BYTES
            }
        );
        let html = headers(&[(header::CONTENT_TYPE, "text/html")]);
        assert_eq!(plan(StatusCode::OK, &html, gzip), Plan::AsIs);
        let encoded = headers(&[
            (header::CONTENT_TYPE, "application/json"),
            (header::CONTENT_ENCODING, "gzip"),
        ]);
        assert_eq!(plan(StatusCode::OK, &encoded, gzip), Plan::AsIs);
    }
}
