//! An import's input: a file, a pipe or standard input, decompressed when it is gzip, its
//! format told by its name or `--format`, a UTF-8 byte order mark before its first record
//! skipped, its bytes counted and hashed as they are read. Every input is read once, from
//! its start to its end: nothing seeks or opens it again, so a pipe (`<(zcat x.gz)`) is read
//! as standard input is.

use std::{
    cell::RefCell,
    fs::File,
    io::{self, BufRead, BufReader, Read},
    path::Path,
    rc::Rc,
};

use flate2::read::MultiGzDecoder;
use sha2::{Digest, Sha256};

/// How the records of a file are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON object a line (`.jsonl`, `.ndjson`).
    Jsonl,
    /// A header row of property names, nested ones dotted, then one row a record (`.csv`).
    Csv,
}

/// What has been read of a source's own bytes (compressed, for gzip): how many, and their
/// SHA-256 so far.
#[derive(Default)]
pub struct Tally {
    pub bytes: u64,
    digest: Sha256,
}

impl Tally {
    /// The SHA-256 of every byte read.
    pub fn sha256(&self) -> [u8; 32] {
        self.digest.clone().finalize().into()
    }
}

/// A reader that counts and hashes what passes through it.
struct Tallied<R> {
    inner: R,
    tally: Rc<RefCell<Tally>>,
}

impl<R: Read> Read for Tallied<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buffer)?;
        let mut tally = self.tally.borrow_mut();
        tally.bytes += read as u64;
        tally.digest.update(&buffer[..read]);
        Ok(read)
    }
}

/// An input, open and ready to read.
pub struct Source {
    /// The path as given, or `-`.
    pub name: String,
    pub format: Format,
    /// The size of the file on disk, when it is a regular file.
    pub size: Option<u64>,
    pub tally: Rc<RefCell<Tally>>,
    pub reader: Box<dyn BufRead>,
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const BYTE_ORDER_MARK: &[u8] = b"\xEF\xBB\xBF";

/// Whether `path` (`-`: standard input) is a stream rather than a file on disk: standard
/// input, a pipe, a FIFO, a character device. Such an input has no size, its gzip is told
/// by its first bytes, and it has no folder to write rejects beside.
pub fn is_stream(path: &Path, metadata: Option<&std::fs::Metadata>) -> bool {
    path == Path::new("-") || metadata.is_some_and(|metadata| !metadata.is_file())
}

impl Source {
    /// Opens `path` (`-`: standard input) in `format`, or the format its name says; a
    /// refusal says why it cannot be read.
    pub fn open(path: &Path, format: Option<Format>) -> Result<Self, String> {
        let name = path.display().to_string();
        let (raw, stream, size): (Box<dyn Read>, bool, Option<u64>) = if name == "-" {
            (Box::new(io::stdin().lock()), true, None)
        } else {
            let file = File::open(path).map_err(|error| format!("{name}: {error}"))?;
            let metadata = file
                .metadata()
                .map_err(|error| format!("{name}: {error}"))?;
            if metadata.is_dir() {
                return Err(format!("{name} is a folder"));
            }
            let stream = is_stream(path, Some(&metadata));
            (Box::new(file), stream, (!stream).then_some(metadata.len()))
        };
        let tally = Rc::new(RefCell::new(Tally::default()));
        let mut buffered = BufReader::with_capacity(
            256 * 1024,
            Tallied {
                inner: raw,
                tally: tally.clone(),
            },
        );
        let named_gzip = name.ends_with(".gz");
        let starts_gzip = buffered
            .fill_buf()
            .map_err(|error| format!("{name}: {error}"))?
            .starts_with(&GZIP_MAGIC);
        if named_gzip && !starts_gzip {
            return Err(format!("{name} is named .gz but is not gzip"));
        }
        let format = format
            .or_else(|| format_of(name.trim_end_matches(".gz")))
            .ok_or_else(|| {
                format!(
                    "cannot tell the format of {name}: name it .jsonl, .ndjson or .csv (.gz \
                     for gzip), or say --format jsonl|csv"
                )
            })?;
        // A stream's name says nothing (`/dev/fd/63`): gzip is told by its first bytes.
        let reader: Box<dyn BufRead> = if named_gzip || (stream && starts_gzip) {
            Box::new(BufReader::with_capacity(
                256 * 1024,
                MultiGzDecoder::new(buffered),
            ))
        } else {
            Box::new(buffered)
        };
        let reader = without_byte_order_mark(reader).map_err(|error| format!("{name}: {error}"))?;
        Ok(Self {
            name,
            format,
            size,
            tally,
            reader,
        })
    }
}

/// `reader` without the UTF-8 byte order mark it may start with (Excel writes one).
fn without_byte_order_mark(mut reader: Box<dyn BufRead>) -> io::Result<Box<dyn BufRead>> {
    let mut start = Vec::with_capacity(BYTE_ORDER_MARK.len());
    Read::take(&mut reader, BYTE_ORDER_MARK.len() as u64).read_to_end(&mut start)?;
    if start == BYTE_ORDER_MARK {
        return Ok(reader);
    }
    Ok(Box::new(io::Cursor::new(start).chain(reader)))
}

/// The format a file name's extension says.
fn format_of(name: &str) -> Option<Format> {
    let extension = Path::new(name).extension()?.to_str()?.to_ascii_lowercase();
    match extension.as_str() {
        "jsonl" | "ndjson" => Some(Format::Jsonl),
        "csv" => Some(Format::Csv),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byte_order_mark_is_skipped_and_nothing_else() {
        let read = |bytes: &'static [u8]| {
            let mut text = Vec::new();
            without_byte_order_mark(Box::new(bytes))
                .and_then(|mut reader| reader.read_to_end(&mut text))
                .expect("read");
            text
        };
        assert_eq!(read(b"\xEF\xBB\xBFid,name\n"), b"id,name\n");
        assert_eq!(read(b"id,name\n"), b"id,name\n");
        assert_eq!(read(b"\xEF\xBB"), b"\xEF\xBB");
        assert_eq!(read(b""), b"");
    }

    #[test]
    fn the_extension_says_the_format() {
        assert_eq!(format_of("bills.jsonl"), Some(Format::Jsonl));
        assert_eq!(format_of("bills.NDJSON"), Some(Format::Jsonl));
        assert_eq!(format_of("bills.csv"), Some(Format::Csv));
        assert_eq!(format_of("bills.txt"), None);
        assert_eq!(format_of("bills"), None);
    }
}
