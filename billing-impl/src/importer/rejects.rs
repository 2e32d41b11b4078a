//! The rejects of a file: one JSON object a line, `{"line", "reason", "field", "input",
//! "truncated"}`, `field` only when the reason is about one property, `truncated` only
//! when `input` holds only the first bytes of an over-long record.
//!
//! Nothing outside the database is harmed by writing them. Where they go is checked
//! before anything is opened for writing ([`check`]): never one of the inputs, by any name.
//! They are written to a new file of the same folder (created `O_CREAT | O_EXCL`, so never
//! through a link that was there), and only at the end of the file's load is the rejects
//! path itself replaced by it (a rename), or removed when nothing was rejected. A refused
//! command, or a run killed, leaves the last run's rejects file as it was.

use std::{
    fs::{self, Permissions},
    io::{self, BufWriter, Write},
    os::unix::fs::{MetadataExt, PermissionsExt},
    path::{Path, PathBuf},
};

use serde::Serialize;
use tempfile::NamedTempFile;

use super::Rejection;

/// Which file a path names, whatever name it goes by (a link, `..`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    device: u64,
    inode: u64,
}

impl Identity {
    /// The file `metadata` describes.
    pub fn of(metadata: &fs::Metadata) -> Self {
        Self {
            device: metadata.dev(),
            inode: metadata.ino(),
        }
    }
}

/// Refuses `rejects` as the path of a rejects file when it is a folder, a device, pipe or
/// socket (or a link to one), or any of `inputs` (itself, or a link to one, or another
/// name of the same file), or when its folder is not one. Nothing is opened.
pub fn check(rejects: &Path, inputs: &[(&Path, Identity)]) -> Result<(), String> {
    let shown = rejects.display();
    // The path itself (a link is not followed: it is what a rename replaces), then what it
    // leads to.
    for metadata in [fs::symlink_metadata(rejects), fs::metadata(rejects)]
        .into_iter()
        .flatten()
    {
        if metadata.is_dir() {
            return Err(format!("the rejects path {shown} is a folder"));
        }
        // A device, pipe or socket (`/dev/null`, or `/dev/stdout`'s link to one) would be
        // replaced by a file of rejects, or removed: only files and links to files are.
        if !metadata.is_file() && !metadata.is_symlink() {
            return Err(format!(
                "the rejects path {shown} is not a file (a device, pipe or socket): \
                 name a file with --rejects"
            ));
        }
        let identity = Identity::of(&metadata);
        if let Some((input, _)) = inputs.iter().find(|(_, input)| *input == identity) {
            return Err(format!(
                "the rejects path {shown} is the input {}: name another with --rejects",
                input.display()
            ));
        }
    }
    let folder = folder_of(rejects);
    match fs::metadata(folder) {
        Ok(metadata) if metadata.is_dir() => Ok(()),
        Ok(_) => Err(format!(
            "the rejects path {shown}: {} is no folder",
            folder.display()
        )),
        Err(error) => Err(format!(
            "the rejects path {shown}: {}: {error}",
            folder.display()
        )),
    }
}

fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// The permission bit of a folder whose files only their owner, the folder's owner or a
/// privileged process may rename or remove (`/tmp`'s).
const STICKY: u32 = 0o1000;

/// Refuses `path` when this process may not replace or remove what is there though it may
/// write in its folder: in a folder with the sticky bit, a file of another user (`rename`
/// and `unlink` would fail with "Operation not permitted" once the load is done).
fn replaceable(path: &Path) -> io::Result<()> {
    let Ok(existing) = fs::symlink_metadata(path) else {
        return Ok(());
    };
    let folder = fs::metadata(folder_of(path))?;
    let me = rustix::process::geteuid();
    // Root replaces any file (CAP_FOWNER); so does the folder's owner.
    let allowed = me.is_root() || existing.uid() == me.as_raw() || folder.uid() == me.as_raw();
    if folder.mode() & STICKY != 0 && !allowed {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} belongs to another user (uid {}) in a folder where only its owner may \
                 replace it (the sticky bit): remove it, or name another with --rejects",
                path.display(),
                existing.uid()
            ),
        ));
    }
    Ok(())
}

/// A rejects file being written, beside the path it will replace.
pub struct Rejects {
    path: PathBuf,
    writer: BufWriter<NamedTempFile>,
    written: u64,
}

#[derive(Serialize)]
struct Line<'a> {
    line: u64,
    reason: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    input: &'a str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    truncated: bool,
}

impl Rejects {
    /// Starts the rejects that will go to `path`, in a new file of its folder; `path`
    /// itself is not touched until [`Rejects::finish`].
    pub fn create(path: PathBuf) -> io::Result<Self> {
        let name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let file = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".partial")
            // As `File::create` makes it: the umask decides.
            .permissions(Permissions::from_mode(0o666))
            .tempfile_in(folder_of(&path))
            .map_err(|error| {
                io::Error::new(error.kind(), format!("{}: {error}", path.display()))
            })?;
        // The folder took a new file; whether the path itself may be replaced (or removed)
        // at the end is told now, before anything is loaded.
        replaceable(&path)?;
        Ok(Self {
            path,
            writer: BufWriter::new(file),
            written: 0,
        })
    }

    /// Records that the record on `line`, read as `input` (only its first bytes when
    /// `truncated`), was rejected.
    pub fn write(
        &mut self,
        line: u64,
        rejection: &Rejection,
        input: &str,
        truncated: bool,
    ) -> io::Result<()> {
        let record = Line {
            line,
            reason: &rejection.reason,
            field: rejection.field.as_deref(),
            input,
            truncated,
        };
        serde_json::to_writer(&mut self.writer, &record)?;
        self.writer.write_all(b"\n")?;
        self.written += 1;
        Ok(())
    }

    /// Puts the rejects at their path (replacing what was there, a link included, never
    /// what a link leads to); when there are none, removes the path instead.
    pub fn finish(self) -> io::Result<()> {
        let shown = self.path.display().to_string();
        let with_path =
            |error: io::Error| io::Error::new(error.kind(), format!("{shown}: {error}"));
        let file = self
            .writer
            .into_inner()
            .map_err(|error| with_path(error.into_error()))?;
        if self.written == 0 {
            // The new file goes with `file`.
            return match fs::remove_file(&self.path) {
                Err(error) if error.kind() != io::ErrorKind::NotFound => Err(with_path(error)),
                _ => Ok(()),
            };
        }
        file.as_file().sync_all().map_err(with_path)?;
        file.persist(&self.path)
            .map(drop)
            .map_err(|error| with_path(error.error))
    }

    /// Puts the rejects at their path when there are any, else leaves the path as it
    /// was: the end of a load that stopped.
    pub fn finish_stopped(self) -> io::Result<()> {
        if self.written == 0 {
            return Ok(());
        }
        self.finish()
    }
}
