//! The text of each record of a batch, by its line, for the rejects of rows found bad only
//! once the batch is staged (a reference that does not resolve, a row the database
//! refuses). It is kept in an unnamed temporary file, not in memory, so that a batch of any
//! size costs the same memory; the file is emptied at each batch and gone at the end.

use std::{
    fs::File,
    io::{self, BufWriter, Seek, Write},
    os::unix::fs::FileExt,
};

/// The inputs of the batch being loaded.
pub struct Inputs {
    file: BufWriter<File>,
    /// Each record's line, and where its text is in the file: from, length.
    index: Vec<(u64, u64, usize)>,
    end: u64,
}

impl Inputs {
    /// An empty store, in a new unnamed file of the temporary folder.
    pub fn new() -> io::Result<Self> {
        Ok(Self {
            file: BufWriter::with_capacity(256 * 1024, tempfile::tempfile()?),
            index: Vec::new(),
            end: 0,
        })
    }

    /// Keeps `input`, the text of the record on `line` (lines come in order).
    pub fn push(&mut self, line: u64, input: &str) -> io::Result<()> {
        self.file.write_all(input.as_bytes())?;
        self.index.push((line, self.end, input.len()));
        self.end += input.len() as u64;
        Ok(())
    }

    /// The text of the record on `line`; empty when there is none.
    pub fn get(&mut self, line: u64) -> io::Result<String> {
        let Ok(at) = self.index.binary_search_by_key(&line, |(line, ..)| *line) else {
            return Ok(String::new());
        };
        let (_, from, length) = self.index[at];
        self.file.flush()?;
        let mut text = vec![0; length];
        self.file.get_ref().read_exact_at(&mut text, from)?;
        Ok(String::from_utf8_lossy(&text).into_owned())
    }

    /// Forgets every input: the next batch starts.
    pub fn clear(&mut self) -> io::Result<()> {
        self.file.flush()?;
        self.file.get_ref().set_len(0)?;
        self.file.rewind()?;
        self.index.clear();
        self.end = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_found_by_line_until_cleared() {
        let mut inputs = Inputs::new().expect("a temporary file");
        for (line, text) in [(2, "two"), (3, ""), (7, "séptimo")] {
            inputs.push(line, text).expect("kept");
        }
        assert_eq!(inputs.get(7).expect("read"), "séptimo");
        assert_eq!(inputs.get(2).expect("read"), "two");
        assert_eq!(inputs.get(3).expect("read"), "");
        assert_eq!(inputs.get(4).expect("read"), "");
        inputs.clear().expect("cleared");
        inputs.push(8, "eight").expect("kept");
        assert_eq!(inputs.get(2).expect("read"), "");
        assert_eq!(inputs.get(8).expect("read"), "eight");
    }
}
