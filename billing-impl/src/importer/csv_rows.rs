//! CSV rows, read by the `csv` crate's own parser (`csv_core`) a buffer at a time, so that
//! the tool, not the input, bounds what a row may hold: a row longer than the maximum is
//! read past, keeping its first bytes for the rejects. Each row is numbered by the line it
//! starts on, counting every line end: `\n`, `\r\n` and a lone `\r` (as the parser ends a
//! row at each) and those inside quoted cells that span lines are counted exactly (the
//! `csv` crate's own count is one short after a `\r\n`, and counts no lone `\r`). A row of
//! more cells than the maximum is read past too, so that neither its bytes nor its cells
//! are held.

use std::io::{self, BufRead};

use csv_core::ReadRecordResult;

use super::records::SHOWN_BYTES;

/// What reading a row found.
pub enum Row {
    /// A row on `line`; its cells are [`CsvRows::cells`].
    Cells { line: u64 },
    /// A row on `line` longer than the maximum; `start` holds its first bytes.
    TooLong { line: u64, start: Vec<u8> },
    /// A row on `line` of more cells than the maximum; `start` holds its first bytes.
    TooWide { line: u64, start: Vec<u8> },
    /// A row on `line` whose quoted cell the end of the input closed, not a quote: the
    /// rest of the file was read into that cell. `start` holds its first bytes.
    Unclosed { line: u64, start: Vec<u8> },
}

/// The rows of a source.
pub struct CsvRows {
    reader: Box<dyn BufRead>,
    /// Boxed: its tables are a few kilobytes.
    parser: Box<csv_core::Reader>,
    max_bytes: usize,
    max_cells: usize,
    /// The line ends read so far.
    line_ends: LineEnds,
    /// The cells of the last row, one after the other, and where each ends.
    cells: Vec<u8>,
    ends: Vec<usize>,
    count: usize,
    /// The first bytes of the row being read.
    start: Vec<u8>,
}

/// Where the parser writes what an over-long row holds: nowhere kept.
const DISCARD_BYTES: usize = 8 * 1024;
const DISCARD_CELLS: usize = 256;

impl CsvRows {
    /// The rows of `reader`, each at most `max_bytes` long (its line end not counted) and
    /// of at most `max_cells` cells.
    pub fn new(reader: Box<dyn BufRead>, max_bytes: usize, max_cells: usize) -> Self {
        Self {
            reader,
            parser: Box::new(csv_core::Reader::new()),
            max_bytes,
            max_cells,
            line_ends: LineEnds::default(),
            cells: vec![0; 1024],
            ends: vec![0; 64],
            count: 0,
            start: Vec::with_capacity(SHOWN_BYTES),
        }
    }

    /// The cells of the row [`CsvRows::read`] last found.
    pub fn cells(&self) -> impl Iterator<Item = &[u8]> {
        let ends = &self.ends[..self.count];
        ends.iter().enumerate().map(|(at, &end)| {
            let begin = if at == 0 { 0 } else { ends[at - 1] };
            &self.cells[begin..end]
        })
    }

    /// The bytes it holds for a row: what it may keep in memory.
    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.cells.len() + self.ends.len() * std::mem::size_of::<usize>() + self.start.capacity()
    }

    /// The next row; `None` at the end.
    pub fn read(&mut self) -> io::Result<Option<Row>> {
        let (mut written, mut ended) = (0, 0);
        let mut line = None;
        let mut bytes = 0;
        let mut too_long = false;
        let mut too_wide = false;
        // Whether the row's bytes so far hold an odd number of quotes.
        let mut quote_open = false;
        let mut discard: Option<(Vec<u8>, Vec<usize>)> = None;
        self.start.clear();
        loop {
            let input = self.reader.fill_buf()?;
            let at_end = input.is_empty();
            let (result, read, wrote, ends) = if too_long || too_wide {
                let (cells, ends) =
                    discard.get_or_insert_with(|| (vec![0; DISCARD_BYTES], vec![0; DISCARD_CELLS]));
                self.parser.read_record(input, cells, ends)
            } else {
                self.parser
                    .read_record(input, &mut self.cells[written..], &mut self.ends[ended..])
            };
            let consumed = &input[..read];
            // The parser skips the line ends before a row: the row starts at the first
            // other byte.
            let part = match line {
                Some(_) => consumed,
                None => match consumed.iter().position(|b| !matches!(b, b'\n' | b'\r')) {
                    Some(at) => {
                        self.line_ends.count(&consumed[..at]);
                        line = Some(self.line_ends.count + 1);
                        &consumed[at..]
                    }
                    None => {
                        self.line_ends.count(consumed);
                        &[]
                    }
                },
            };
            self.line_ends.count(part);
            quote_open ^= part.iter().filter(|&&byte| byte == b'"').count() % 2 == 1;
            bytes += part.len();
            let room = SHOWN_BYTES.saturating_sub(self.start.len());
            self.start.extend_from_slice(&part[..part.len().min(room)]);
            // The end of the row (at most `\r\n`) is not counted against it.
            if !too_long && bytes > self.max_bytes + 2 {
                too_long = true;
            }
            let row_end = ending(part);
            self.reader.consume(read);
            written += wrote;
            ended += ends;
            if !too_wide && !too_long && ended > self.max_cells {
                too_wide = true;
            }
            match result {
                ReadRecordResult::InputEmpty => {}
                ReadRecordResult::OutputFull if !too_long && !too_wide => {
                    let grown = self.cells.len() * 2;
                    self.cells.resize(grown, 0);
                }
                // One end more than the maximum tells a row too wide.
                ReadRecordResult::OutputEndsFull if !too_long && !too_wide => {
                    let grown = (self.ends.len() * 2).min(self.max_cells + 1);
                    self.ends.resize(grown.max(ended + 1), 0);
                }
                ReadRecordResult::OutputFull | ReadRecordResult::OutputEndsFull => {}
                ReadRecordResult::Record => {
                    let line = line.unwrap_or(self.line_ends.count + 1);
                    if too_long || bytes - row_end > self.max_bytes {
                        let start = std::mem::take(&mut self.start);
                        self.start = Vec::with_capacity(SHOWN_BYTES);
                        return Ok(Some(Row::TooLong { line, start }));
                    }
                    if too_wide {
                        let start = std::mem::take(&mut self.start);
                        self.start = Vec::with_capacity(SHOWN_BYTES);
                        return Ok(Some(Row::TooWide { line, start }));
                    }
                    // A row ended by the end of the input with a quote still open: csv_core
                    // closes the cell there, having read every later line into it.
                    if at_end && quote_open {
                        let start = std::mem::take(&mut self.start);
                        self.start = Vec::with_capacity(SHOWN_BYTES);
                        return Ok(Some(Row::Unclosed { line, start }));
                    }
                    self.count = ended;
                    return Ok(Some(Row::Cells { line }));
                }
                ReadRecordResult::End => return Ok(None),
            }
        }
    }
}

/// How many line ends have been read, and whether the last byte read was a `\r` (so that
/// a `\n` after it ends no line of its own).
#[derive(Default)]
struct LineEnds {
    count: u64,
    after_return: bool,
}

impl LineEnds {
    /// Counts the line ends of `bytes`, read after everything before: `\n`, `\r\n` and a
    /// lone `\r` each end one line.
    fn count(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            match byte {
                b'\n' if self.after_return => {}
                b'\n' | b'\r' => self.count += 1,
                _ => {}
            }
            self.after_return = byte == b'\r';
        }
    }
}

/// How many bytes of line end `part` ends with.
fn ending(part: &[u8]) -> usize {
    let without_newline = part.strip_suffix(b"\n").unwrap_or(part);
    let without_return = without_newline
        .strip_suffix(b"\r")
        .unwrap_or(without_newline);
    part.len() - without_return.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row of `text` (at most `max` bytes each): its line, and its cells or `None`
    /// when too long.
    fn rows(text: &[u8], max: usize) -> Vec<(u64, Option<Vec<String>>)> {
        let mut rows = CsvRows::new(Box::new(io::Cursor::new(text.to_vec())), max, 4);
        let mut found = Vec::new();
        while let Some(row) = rows.read().expect("read") {
            found.push(match row {
                Row::Cells { line } => (
                    line,
                    Some(
                        rows.cells()
                            .map(|cell| String::from_utf8_lossy(cell).into_owned())
                            .collect(),
                    ),
                ),
                Row::TooLong { line, .. }
                | Row::TooWide { line, .. }
                | Row::Unclosed { line, .. } => (line, None),
            });
        }
        found
    }

    fn cells(cells: &[&str]) -> Option<Vec<String>> {
        Some(cells.iter().map(|cell| (*cell).to_owned()).collect())
    }

    #[test]
    fn rows_are_numbered_by_the_line_they_start_on() {
        for end in ["\n", "\r\n", "\r"] {
            let text = ["a,b", "1,\"x", "y\"", "", "2,z", "3,w"].join(end);
            assert_eq!(
                rows(text.as_bytes(), 100),
                [
                    (1, cells(&["a", "b"])),
                    (2, cells(&["1", &format!("x{end}y")])),
                    (5, cells(&["2", "z"])),
                    (6, cells(&["3", "w"])),
                ],
                "{end:?}"
            );
        }
    }

    #[test]
    fn a_row_longer_than_the_maximum_is_read_past() {
        let long = "x".repeat(100_000);
        let text = format!("a,b\r\n1,{long}\r\n2,\"{long}\n{long}\"\n3,ok\n");
        assert_eq!(
            rows(text.as_bytes(), 1000),
            [
                (1, cells(&["a", "b"])),
                (2, None),
                (3, None),
                (5, cells(&["3", "ok"]))
            ]
        );
        // Exactly the maximum is not too long, whatever the line end.
        let ten = "0123456789";
        for end in ["\n", "\r\n", ""] {
            let text = format!("{ten}{end}");
            assert_eq!(rows(text.as_bytes(), 10), [(1, cells(&[ten]))], "{end:?}");
            assert_eq!(rows(text.as_bytes(), 9), [(1, None)], "{end:?}");
        }
    }

    #[test]
    fn a_row_of_more_cells_than_the_maximum_is_read_past_without_holding_them() {
        let text = format!("a,b\n1,{}\n2,z\n", ",".repeat(100_000));
        let mut reader = CsvRows::new(Box::new(io::Cursor::new(text.into_bytes())), 1 << 20, 4);
        let mut found = Vec::new();
        while let Some(row) = reader.read().expect("read") {
            assert!(reader.held() < 16 * 1024, "held {}", reader.held());
            found.push(match row {
                Row::Cells { line } => (line, true),
                Row::TooWide { line, .. } => (line, false),
                Row::TooLong { .. } | Row::Unclosed { .. } => panic!("not too wide"),
            });
        }
        assert_eq!(found, [(1, true), (2, false), (3, true)]);
    }
}
