//! JSON Lines: one JSON object a line, `\n` or `\r\n` ended, blank lines skipped. A line
//! longer than the maximum is not held: its first bytes are kept for the rejects, and the
//! rest is read past.

use std::io::{self, BufRead, Read};

use serde_json::Value;

use super::{
    Rejection,
    records::{Record, shown},
    unique::{self, Problem},
};

/// The lines of a source, read one at a time.
pub struct JsonLines {
    reader: Box<dyn BufRead>,
    max_bytes: usize,
    /// The properties whose numbers are amounts, checked on their text.
    money: Vec<&'static str>,
    line: u64,
    buffer: Vec<u8>,
}

impl JsonLines {
    /// The lines of `reader`, each at most `max_bytes` long (its end not counted), whose
    /// properties `money` are amounts.
    pub fn new(reader: Box<dyn BufRead>, max_bytes: usize, money: Vec<&'static str>) -> Self {
        Self {
            reader,
            max_bytes,
            money,
            line: 0,
            buffer: Vec::new(),
        }
    }

    /// The next record; `None` at the end; an error when the source cannot be read on.
    pub fn next_record(&mut self) -> Option<io::Result<Record>> {
        loop {
            self.buffer.clear();
            // The line end (`\r\n` at most) is not counted against the maximum.
            let limit = self.max_bytes as u64 + 2;
            match Read::take(&mut *self.reader, limit).read_until(b'\n', &mut self.buffer) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(error) => return Some(Err(error)),
            }
            self.line += 1;
            let ended = self.buffer.ends_with(b"\n");
            let text = self.buffer.strip_suffix(b"\n").unwrap_or(&self.buffer);
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            if text.len() > self.max_bytes {
                return Some(self.too_long(ended));
            }
            if text.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Some(Ok(Record {
                line: self.line,
                input: String::from_utf8_lossy(text).into_owned(),
                truncated: false,
                object: object(text, &self.money),
            }));
        }
    }

    /// The bytes it holds for a line: what it may keep in memory.
    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.buffer.capacity()
    }

    /// The record of a line longer than the maximum, its rest read past unless `ended`.
    fn too_long(&mut self, ended: bool) -> io::Result<Record> {
        if !ended {
            self.reader.skip_until(b'\n')?;
        }
        Ok(Record {
            line: self.line,
            input: shown(&self.buffer),
            truncated: true,
            object: Err(Rejection::new(format!(
                "the line is longer than {} bytes (--max-record-bytes)",
                self.max_bytes
            ))),
        })
    }
}

/// The object a line holds, or why it holds none.
fn object(text: &[u8], money: &[&str]) -> Result<serde_json::Map<String, Value>, Rejection> {
    let text = std::str::from_utf8(text).map_err(|_| Rejection::new("the line is not UTF-8"))?;
    match unique::value(text, money) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(Rejection::new("the line is not a JSON object")),
        Err(Problem::Twice(field)) => Err(Rejection::at(field, "is given twice")),
        Err(Problem::Inexact(field, problem)) => Err(Rejection::at(field, problem)),
        Err(Problem::TooMany) => Err(Rejection::new(format!(
            "the line holds more than {} JSON values",
            unique::MAX_VALUES
        ))),
        Err(Problem::NotJson(error)) => {
            Err(Rejection::new(format!("the line is not JSON: {error}")))
        }
    }
}
