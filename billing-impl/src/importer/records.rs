//! The records of a source, one JSON object each, with the number of the line it starts on
//! and its text as read: JSON Lines as they are, CSV rows made into the objects their
//! header names (`customer.id` nests `id` in `customer`; an empty cell is no property).

use std::io::{self, BufRead};

use serde_json::{Map, Number, Value};

use super::{
    Rejection,
    source::{Format, Source},
};

/// How a CSV cell becomes its property's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    /// A JSON string.
    Text,
    /// A JSON number without a fraction.
    Integer,
    /// Any JSON number.
    Number,
}

/// A property a CSV file of a kind may name in its header.
#[derive(Debug)]
pub struct Column {
    pub name: &'static str,
    pub cell: Cell,
    /// Whether every file of the kind must name it.
    pub required: bool,
}

/// One record: the line it starts on (from 1; a CSV header is line 1), its text as read
/// (for CSV, the row written back as CSV), and its object or why it has none.
pub struct Record {
    pub line: u64,
    pub input: String,
    pub object: Result<Map<String, Value>, Rejection>,
}

/// The records of a source.
pub enum Records {
    Jsonl {
        reader: Box<dyn BufRead>,
        line: u64,
        buffer: Vec<u8>,
    },
    Csv {
        reader: csv::Reader<Box<dyn BufRead>>,
        columns: Vec<&'static Column>,
        row: csv::ByteRecord,
    },
}

impl Records {
    /// The records of `source`, whose CSV header may name `columns`; a header that names
    /// another, names one twice, or leaves a required one out is refused.
    pub fn of(source: Source, columns: &'static [Column]) -> Result<Self, String> {
        match source.format {
            Format::Jsonl => Ok(Records::Jsonl {
                reader: source.reader,
                line: 0,
                buffer: Vec::new(),
            }),
            Format::Csv => {
                let mut reader = csv::ReaderBuilder::new()
                    .has_headers(false)
                    .flexible(true)
                    .from_reader(source.reader);
                let mut header = csv::ByteRecord::new();
                if !reader
                    .read_byte_record(&mut header)
                    .map_err(|error| format!("{}: {error}", source.name))?
                {
                    return Err(format!(
                        "{} is empty: a CSV file starts with its header",
                        source.name
                    ));
                }
                let columns = header_columns(&header, columns)
                    .map_err(|problem| format!("{}: {problem}", source.name))?;
                Ok(Records::Csv {
                    reader,
                    columns,
                    row: csv::ByteRecord::new(),
                })
            }
        }
    }

    /// The next record; `None` at the end; an error when the source cannot be read on.
    pub fn next_record(&mut self) -> Option<io::Result<Record>> {
        match self {
            Records::Jsonl {
                reader,
                line,
                buffer,
            } => next_json_line(reader.as_mut(), line, buffer),
            Records::Csv {
                reader,
                columns,
                row,
            } => match reader.read_byte_record(row) {
                Ok(false) => None,
                Ok(true) => Some(Ok(csv_record(row, columns))),
                Err(error) => Some(Err(io::Error::other(error))),
            },
        }
    }
}

/// The columns `header` names, in its order.
fn header_columns(
    header: &csv::ByteRecord,
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

fn next_json_line(
    reader: &mut dyn BufRead,
    line: &mut u64,
    buffer: &mut Vec<u8>,
) -> Option<io::Result<Record>> {
    loop {
        buffer.clear();
        match reader.read_until(b'\n', buffer) {
            Ok(0) => return None,
            Ok(_) => {}
            Err(error) => return Some(Err(error)),
        }
        *line += 1;
        let text = buffer.strip_suffix(b"\n").unwrap_or(buffer);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let input = String::from_utf8_lossy(text).into_owned();
        let object = match std::str::from_utf8(text) {
            Err(_) => Err(Rejection::new("the line is not UTF-8")),
            Ok(text) => match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(object)) => Ok(object),
                Ok(_) => Err(Rejection::new("the line is not a JSON object")),
                Err(error) => Err(Rejection::new(format!("the line is not JSON: {error}"))),
            },
        };
        return Some(Ok(Record {
            line: *line,
            input,
            object,
        }));
    }
}

fn csv_record(row: &csv::ByteRecord, columns: &[&'static Column]) -> Record {
    let line = row.position().map_or(0, csv::Position::line);
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
        object,
    }
}

/// The object the cells of `row` make.
fn csv_object(
    row: &csv::ByteRecord,
    columns: &[&'static Column],
) -> Result<Map<String, Value>, Rejection> {
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
            Cell::Number => serde_json::from_str::<Number>(cell)
                .map(Value::Number)
                .map_err(|_| Rejection::at(column.name, "is not a number"))?,
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
fn written_back(row: &csv::ByteRecord) -> String {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    if writer.write_byte_record(row).is_err() {
        return String::new();
    }
    let bytes = writer.into_inner().unwrap_or_default();
    String::from_utf8_lossy(&bytes)
        .trim_end_matches('\n')
        .to_owned()
}
