//! The rejects of a file: one JSON object a line, `{"line", "reason", "field", "input"}`,
//! `field` only when the reason is about one property. The file is left only when it holds
//! a reject.

use std::{
    fs::File,
    io::{self, BufWriter, Write},
    path::PathBuf,
};

use serde::Serialize;

use super::Rejection;

/// A rejects file being written.
pub struct Rejects {
    path: PathBuf,
    writer: BufWriter<File>,
    written: u64,
}

#[derive(Serialize)]
struct Line<'a> {
    line: u64,
    reason: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    input: &'a str,
}

impl Rejects {
    /// Creates (or empties) the rejects file at `path`.
    pub fn create(path: PathBuf) -> io::Result<Self> {
        let file = File::create(&path).map_err(|error| {
            io::Error::new(error.kind(), format!("{}: {error}", path.display()))
        })?;
        Ok(Self {
            path,
            writer: BufWriter::new(file),
            written: 0,
        })
    }

    /// Records that the record on `line`, read as `input`, was rejected.
    pub fn write(&mut self, line: u64, rejection: &Rejection, input: &str) -> io::Result<()> {
        let record = Line {
            line,
            reason: &rejection.reason,
            field: rejection.field.as_deref(),
            input,
        };
        serde_json::to_writer(&mut self.writer, &record)?;
        self.writer.write_all(b"\n")?;
        self.written += 1;
        Ok(())
    }

    /// Finishes the file; removes it when it holds no reject.
    pub fn close(mut self) -> io::Result<()> {
        self.writer.flush()?;
        if self.written == 0 {
            std::fs::remove_file(&self.path)?;
        }
        Ok(())
    }
}
