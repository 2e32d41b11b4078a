//! The records of a source, one JSON object each, with the number of the line it starts on
//! and its text as read: JSON Lines as they are (`json_lines`), CSV rows made into the
//! objects their header names (`csv_rows`; `customer.id` nests `id` in `customer`; an
//! empty cell is no property). No record is held whole past the maximum size: a longer
//! one is a rejection that keeps only its first bytes.

use std::io;

use serde_json::{Map, Number, Value};

use super::{
    Rejection,
    csv_rows::{CsvRows, Row},
    fields,
    json_lines::JsonLines,
    source::{Format, Source},
};

/// How many bytes of an over-long record the rejects show.
pub const SHOWN_BYTES: usize = 1024;

/// The cells a CSV row may have beyond its kind's columns before it is read past without
/// holding them: a row of another number than its header's is rejected either way, and a
/// megabyte of commas is a million cells (8 bytes each where they end, 16 as slices).
pub const EXTRA_CELLS: usize = 16;

/// How a CSV cell becomes its property's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    /// A JSON string.
    Text,
    /// A JSON number without a fraction.
    Integer,
    /// An amount: a JSON number of at most two decimals, told by its text (a number read
    /// into a double cannot tell `9999999999999.991` from `9999999999999.99`).
    Money,
}

/// A property a CSV file of a kind may name in its header.
#[derive(Debug)]
pub struct Column {
    pub name: &'static str,
    pub cell: Cell,
    /// Whether every file of the kind must name it.
    pub required: bool,
}

impl Column {
    /// A property every file of the kind must name.
    pub const fn required(name: &'static str, cell: Cell) -> Self {
        Self {
            name,
            cell,
            required: true,
        }
    }

    /// A property a file of the kind may leave out.
    pub const fn optional(name: &'static str, cell: Cell) -> Self {
        Self {
            name,
            cell,
            required: false,
        }
    }
}

/// One record: the line it starts on (from 1; a CSV header is line 1), its text as read
/// (for CSV, the row written back as CSV; only the first bytes when `truncated`), and its
/// object or why it has none.
pub struct Record {
    pub line: u64,
    pub input: String,
    pub truncated: bool,
    pub object: Result<Map<String, Value>, Rejection>,
}

/// The records of a source.
pub enum Records {
    Jsonl(JsonLines),
    Csv {
        rows: CsvRows,
        columns: Vec<&'static Column>,
        max_bytes: usize,
    },
}

impl Records {
    /// The records of `source`, each at most `max_bytes` long, whose CSV header may name
    /// `columns`; a header that names another, names one twice, or leaves a required one
    /// out is refused.
    pub fn of(
        source: Source,
        columns: &'static [Column],
        max_bytes: usize,
    ) -> Result<Self, String> {
        match source.format {
            Format::Jsonl => {
                let money = columns
                    .iter()
                    .filter(|column| column.cell == Cell::Money)
                    .map(|column| column.name)
                    .collect();
                Ok(Records::Jsonl(JsonLines::new(
                    source.reader,
                    max_bytes,
                    money,
                )))
            }
            Format::Csv => {
                let mut rows = CsvRows::new(source.reader, max_bytes, columns.len() + EXTRA_CELLS);
                match rows.read() {
                    Err(error) => Err(format!("{}: {error}", source.name)),
                    Ok(None) => Err(format!(
                        "{} is empty: a CSV file starts with its header",
                        source.name
                    )),
                    Ok(Some(Row::TooLong { .. })) => Err(format!(
                        "{}: the header is longer than {max_bytes} bytes (--max-record-bytes)",
                        source.name
                    )),
                    Ok(Some(Row::TooWide { .. })) => Err(format!(
                        "{}: the header has more than {} cells, and these records have {} \
                         columns",
                        source.name,
                        columns.len() + EXTRA_CELLS,
                        columns.len()
                    )),
                    Ok(Some(Row::Unclosed { .. })) => Err(format!(
                        "{}: a quote of the header is not closed before the end of the file",
                        source.name
                    )),
                    Ok(Some(Row::Cells { .. })) => {
                        let columns = header_columns(rows.cells(), columns)
                            .map_err(|problem| format!("{}: {problem}", source.name))?;
                        Ok(Records::Csv {
                            rows,
                            columns,
                            max_bytes,
                        })
                    }
                }
            }
        }
    }

    /// The next record; `None` at the end; an error when the source cannot be read on.
    pub fn next_record(&mut self) -> Option<io::Result<Record>> {
        match self {
            Records::Jsonl(lines) => lines.next_record(),
            Records::Csv {
                rows,
                columns,
                max_bytes,
            } => match rows.read() {
                Ok(None) => None,
                Ok(Some(Row::Cells { line })) => {
                    let cells: Vec<&[u8]> = rows.cells().collect();
                    Some(Ok(csv_record(line, &cells, columns)))
                }
                Ok(Some(Row::TooLong { line, start })) => Some(Ok(Record {
                    line,
                    input: shown(&start),
                    truncated: true,
                    object: Err(Rejection::new(format!(
                        "the record is longer than {max_bytes} bytes (--max-record-bytes)"
                    ))),
                })),
                Ok(Some(Row::TooWide { line, start })) => Some(Ok(Record {
                    line,
                    input: shown(&start),
                    truncated: true,
                    object: Err(Rejection::new(format!(
                        "the row has more than {} cells, where the header has {}",
                        columns.len() + EXTRA_CELLS,
                        columns.len()
                    ))),
                })),
                Ok(Some(Row::Unclosed { line, start })) => Some(Ok(Record {
                    line,
                    input: shown(&start),
                    truncated: start.len() >= SHOWN_BYTES,
                    object: Err(Rejection::new(
                        "a quoted cell is not closed before the end of the file: every line \
                         after its opening quote was read into it"
                            .to_owned(),
                    )),
                })),
                Err(error) => Some(Err(error)),
            },
        }
    }
}

/// The first bytes of an over-long record, as text for the rejects.
pub fn shown(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(SHOWN_BYTES)]).into_owned()
}

/// The columns `header` names, in its order.
fn header_columns<'a>(
    header: impl Iterator<Item = &'a [u8]>,
    known: &'static [Column],
) -> Result<Vec<&'static Column>, String> {
    let mut columns: Vec<&'static Column> = Vec::new();
    for name in header {
        let name = std::str::from_utf8(name).map_err(|_| "the header is not UTF-8".to_owned())?;
        let column = known
            .iter()
            .find(|column| column.name == name.trim())
            .ok_or_else(|| {
                format!("the header names `{name}`, which is no property of these records")
            })?;
        if columns.iter().any(|seen| seen.name == column.name) {
            return Err(format!("the header names `{name}` twice"));
        }
        columns.push(column);
    }
    if let Some(missing) = known
        .iter()
        .find(|column| column.required && !columns.iter().any(|seen| seen.name == column.name))
    {
        return Err(format!(
            "the header names no `{}`, which every record needs",
            missing.name
        ));
    }
    Ok(columns)
}

fn csv_record(line: u64, row: &[&[u8]], columns: &[&'static Column]) -> Record {
    let input = written_back(row);
    let object = if row.len() != columns.len() {
        Err(Rejection::new(format!(
            "the row has {} cells where the header has {}",
            row.len(),
            columns.len()
        )))
    } else {
        csv_object(row, columns)
    };
    Record {
        line,
        input,
        truncated: false,
        object,
    }
}

/// The object the cells of `row` make.
fn csv_object(row: &[&[u8]], columns: &[&'static Column]) -> Result<Map<String, Value>, Rejection> {
    let mut object = Map::new();
    for (cell, column) in row.iter().zip(columns) {
        let cell = std::str::from_utf8(cell)
            .map_err(|_| Rejection::at(column.name, "the cell is not UTF-8"))?;
        if cell.is_empty() {
            continue;
        }
        let value = match column.cell {
            Cell::Text => Value::String(cell.to_owned()),
            Cell::Integer => cell
                .parse::<i64>()
                .ok()
                .filter(|_| !cell.starts_with('+'))
                .map(Value::from)
                .ok_or_else(|| Rejection::at(column.name, "is not a whole number"))?,
            Cell::Money => {
                let number = serde_json::from_str::<Number>(cell)
                    .map_err(|_| Rejection::at(column.name, "is not a number"))?;
                if let Err(problem) = fields::two_decimals(cell) {
                    return Err(Rejection::at(column.name, problem));
                }
                Value::Number(number)
            }
        };
        match column.name.split_once('.') {
            None => {
                object.insert(column.name.to_owned(), value);
            }
            Some((outer, inner)) => {
                let nested = object
                    .entry(outer)
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(nested) = nested {
                    nested.insert(inner.to_owned(), value);
                }
            }
        }
    }
    Ok(object)
}

/// The row as CSV again, for the rejects file.
fn written_back(row: &[&[u8]]) -> String {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    if writer.write_record(row).is_err() {
        return String::new();
    }
    let bytes = writer.into_inner().unwrap_or_default();
    String::from_utf8_lossy(&bytes)
        .trim_end_matches('\n')
        .to_owned()
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use proptest::prelude::*;

    use super::*;

    /// The largest record in these tests: small, so that arbitrary inputs pass it often.
    const MAX: usize = 64;
    /// The most cells of a CSV row in these tests.
    const CELLS: usize = 8;

    /// Bytes as files hold them: arbitrary, with the ones that mean something to the
    /// readers frequent.
    fn bytes() -> impl Strategy<Value = Vec<u8>> {
        const MEANINGFUL: &[u8] = b"\n\r,\" {}[]:0a\\";
        prop::collection::vec(any::<u8>(), 0..1024).prop_map(|bytes| {
            bytes
                .into_iter()
                .map(|byte| match byte {
                    0..128 => MEANINGFUL[usize::from(byte) % MEANINGFUL.len()],
                    _ => byte.wrapping_mul(7),
                })
                .collect()
        })
    }

    /// The 1-based line of the byte at `at`, lines ended by `\n`, `\r\n` or a lone `\r`.
    fn line_of(input: &[u8], at: usize) -> u64 {
        let before = &input[..at];
        let ends = before
            .iter()
            .enumerate()
            .filter(|&(index, &byte)| {
                byte == b'\r' || (byte == b'\n' && (index == 0 || before[index - 1] != b'\r'))
            })
            .count();
        ends as u64 + 1
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn json_lines_of_any_bytes_are_numbered_as_the_input_and_held_within_the_maximum(input in bytes()) {
            let mut lines = JsonLines::new(Box::new(Cursor::new(input.clone())), MAX, vec!["a"]);
            // What each line of the input is, by its number.
            let expected: Vec<(u64, &[u8])> = input
                .split(|&byte| byte == b'\n')
                .enumerate()
                .map(|(at, line)| (at as u64 + 1, line.strip_suffix(b"\r").unwrap_or(line)))
                // A long line is not read to its end: whether it is blank is not known.
                .filter(|(_, line)| line.len() > MAX || !line.iter().all(u8::is_ascii_whitespace))
                .collect();
            let mut found = Vec::new();
            while let Some(record) = lines.next_record() {
                let record = record.expect("bytes in memory read");
                prop_assert!(lines.held() <= 2 * MAX + 8, "held {}", lines.held());
                found.push(record);
            }
            prop_assert_eq!(found.len(), expected.len());
            for (record, (line, text)) in found.iter().zip(&expected) {
                prop_assert_eq!(record.line, *line);
                prop_assert_eq!(record.truncated, text.len() > MAX);
                if record.truncated {
                    prop_assert!(record.object.is_err());
                    prop_assert!(record.input.len() <= 3 * SHOWN_BYTES);
                } else {
                    prop_assert_eq!(&record.input, &String::from_utf8_lossy(text));
                }
            }
        }

        #[test]
        fn csv_rows_of_any_bytes_are_numbered_as_the_input_and_held_within_the_maximum(input in bytes()) {
            // The csv crate's own reader, for the cells and where each row starts; it
            // drops a byte order mark, which the source does before the rows are read.
            prop_assume!(!input.starts_with(b"\xEF\xBB\xBF"));
            let mut reference = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(input.as_slice());
            let mut expected = Vec::new();
            let mut row = csv::ByteRecord::new();
            while reference.read_byte_record(&mut row).expect("read") {
                let from = usize::try_from(row.position().expect("a position").byte()).expect("usize");
                let start = input[from..]
                    .iter()
                    .position(|byte| !matches!(byte, b'\n' | b'\r'))
                    .map_or(input.len(), |at| from + at);
                let cells: Vec<Vec<u8>> = row.iter().map(<[u8]>::to_vec).collect();
                expected.push((line_of(&input, start), cells));
            }
            let mut rows = CsvRows::new(Box::new(Cursor::new(input.clone())), MAX, CELLS);
            let mut found = Vec::new();
            while let Some(row) = rows.read().expect("bytes in memory read") {
                prop_assert!(rows.held() <= 4 * MAX + 4096, "held {}", rows.held());
                found.push(match row {
                    Row::Cells { line } => (line, Some(rows.cells().map(<[u8]>::to_vec).collect::<Vec<_>>())),
                    Row::TooLong { line, start } | Row::TooWide { line, start } | Row::Unclosed { line, start } => {
                        prop_assert!(start.len() <= SHOWN_BYTES);
                        (line, None)
                    }
                });
            }
            prop_assert_eq!(found.len(), expected.len());
            for ((line, cells), (expected_line, expected_cells)) in found.iter().zip(&expected) {
                prop_assert_eq!(line, expected_line);
                if let Some(cells) = cells {
                    prop_assert_eq!(cells, expected_cells);
                }
                if expected_cells.len() > CELLS {
                    prop_assert!(cells.is_none(), "{} cells held", expected_cells.len());
                }
            }
        }
    }
}
