//! Log lines as JSON (`BILLING_LOG_FORMAT=json`): one object a line, with env_logger still
//! choosing what is logged (`RUST_LOG`).

use std::io::Write;

use env_logger::fmt::Formatter;
use log::{
    Record,
    kv::{Error, Key, Value, VisitSource},
};
use serde_json::{Map, Value as Json};

/// Collects a line's key-value fields.
struct Fields(Map<String, Json>);

impl<'kvs> VisitSource<'kvs> for Fields {
    fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), Error> {
        let value = if let Some(number) = value.to_u64() {
            Json::from(number)
        } else if let Some(number) = value.to_f64() {
            Json::from(number)
        } else {
            Json::from(value.to_string())
        };
        self.0.insert(key.to_string(), value);
        Ok(())
    }
}

/// Writes `record` as one JSON object: `timestamp`, `level`, `target`, `message`, and its
/// fields.
pub fn json_line(buf: &mut Formatter, record: &Record<'_>) -> std::io::Result<()> {
    let mut fields = Fields(Map::new());
    // A field that cannot be read is left out; the line still goes out.
    let _ = record.key_values().visit(&mut fields);
    let mut line = fields.0;
    line.insert(
        "timestamp".into(),
        Json::from(buf.timestamp_micros().to_string()),
    );
    line.insert("level".into(), Json::from(record.level().as_str()));
    line.insert("target".into(), Json::from(record.target()));
    line.insert("message".into(), Json::from(record.args().to_string()));
    serde_json::to_writer(&mut *buf, &line)?;
    writeln!(buf)
}
