//! Every file `esreplay` writes, and its standard output.
//!
//! A file output goes to a hidden temporary file in the target's directory
//! (`.NAME.XXXXXX.tmp`) and is renamed over the target only by
//! [`Output::commit`], after the last byte is written (and, for traces,
//! after an fsync of the file and then of the directory): a command that
//! fails, or is interrupted, leaves an existing target untouched and no
//! partial file under the target's name (a killed process can leave its
//! hidden temporary file behind). An existing target keeps its
//! permissions; a symbolic link as target is followed, the file it names
//! is replaced.
//!
//! A target that is a device or a pipe (`-o /dev/null`, `-o >(gzip >
//! t.gz)`) is written in place: there is nothing to replace.
//!
//! Standard output (`-`) is written through the same type, so that a
//! write error, a closed pipe above all, comes back as an error to `main`
//! (which ends quietly on a broken pipe) instead of a panic in `println!`.
//!
//! [`refuse_same_file`] rejects an output that is one of the inputs (same
//! device and inode, whatever the path's spelling) before anything is
//! opened for writing.

use std::fs::{self, File};
use std::io::{self, StdoutLock, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use tempfile::NamedTempFile;

/// Whether a file output is fsynced before it is renamed into place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Traces and imports: the data and the rename survive a power loss.
    Synced,
    /// Reports, exports and pages: renamed when written, not synced.
    Plain,
}

/// Where an output goes: `-` is standard output.
pub fn is_stdio(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// A buffered output to a file (through a temporary file) or to standard
/// output; nothing reaches a file's target before [`Output::commit`].
///
/// Its buffer is its own: a write is a copy into it, inlined where it is
/// called, so a serializer writing a token at a time (`export jsonl`,
/// `sim --outcomes`) makes no call through `dyn Write` per token. Standard
/// output and a device are flushed when dropped, as a `BufWriter` would be;
/// an uncommitted file is dropped with its temporary file.
pub struct Output {
    /// Bytes not yet written to `kind`, at most [`BUFFER`].
    buffer: Vec<u8>,
    kind: Kind,
}

/// The bytes an [`Output`] holds before it writes them.
const BUFFER: usize = 1 << 16;

enum Kind {
    Stdout(StdoutLock<'static>),
    /// A device or pipe given by name (`/dev/null`, `/dev/fd/63`): written
    /// in place, never replaced.
    Special(File),
    File {
        temp: NamedTempFile,
        target: PathBuf,
        sync: Durability,
    },
    /// Committed: everything was written.
    Done,
}

impl Output {
    fn of(kind: Kind) -> Self {
        Output {
            buffer: Vec::with_capacity(BUFFER),
            kind,
        }
    }

    /// Standard output, buffered.
    pub fn stdout() -> Self {
        Output::of(Kind::Stdout(io::stdout().lock()))
    }

    /// An output to `path` (`-` for standard output).
    pub fn create(path: &Path, sync: Durability) -> Result<Self> {
        if is_stdio(path) {
            return Ok(Output::stdout());
        }
        if fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
            let file = File::options()
                .write(true)
                .open(path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            return Ok(Output::of(Kind::Special(file)));
        }
        // Replace the file a symbolic link names, not the link.
        let target = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let temp = temporary_beside(&target)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Output::of(Kind::File { temp, target, sync }))
    }

    /// Flushes everything and, for a file, renames it into place.
    pub fn commit(mut self) -> Result<()> {
        let flushed = self.flush();
        match std::mem::replace(&mut self.kind, Kind::Done) {
            Kind::File { temp, target, sync } => flushed
                .map_err(anyhow::Error::from)
                .and_then(|()| commit_file(temp, &target, sync))
                .with_context(|| format!("cannot write {}", target.display())),
            _ => Ok(flushed?),
        }
    }
}

impl Drop for Output {
    /// Standard output and a device get what was written, as from a
    /// `BufWriter` (errors are lost: commit to see them); an uncommitted
    /// file goes with its temporary file.
    fn drop(&mut self) {
        if matches!(self.kind, Kind::Stdout(_) | Kind::Special(_)) {
            let _ = self.write_buffer();
        }
    }
}

/// The directory holding `target` (`.` for a bare name).
fn directory_of(target: &Path) -> &Path {
    match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// A temporary file in `target`'s directory, with the target's permission
/// bits if it exists (not set-id bits; else the umask's, as for a new file).
fn temporary_beside(target: &Path) -> io::Result<NamedTempFile> {
    let dir = directory_of(target);
    let name = target
        .file_name()
        .map_or_else(|| "output".into(), |n| n.to_string_lossy());
    let temp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .permissions(fs::Permissions::from_mode(0o666))
        .tempfile_in(dir)?;
    if let Ok(existing) = fs::metadata(target) {
        temp.as_file()
            .set_permissions(fs::Permissions::from_mode(existing.mode() & 0o777))?;
    }
    Ok(temp)
}

fn commit_file(temp: NamedTempFile, target: &Path, sync: Durability) -> Result<()> {
    if sync == Durability::Synced {
        temp.as_file().sync_all()?;
    }
    temp.persist(target).map_err(|e| e.error)?;
    if sync == Durability::Synced {
        File::open(directory_of(target))?.sync_all()?;
    }
    Ok(())
}

impl Kind {
    /// Where the bytes go (nowhere once committed).
    fn sink(&mut self) -> Option<&mut dyn Write> {
        match self {
            Kind::Stdout(out) => Some(out),
            Kind::Special(out) => Some(out),
            Kind::File { temp, .. } => Some(temp),
            Kind::Done => None,
        }
    }
}

impl Output {
    /// Writes out the buffer.
    fn write_buffer(&mut self) -> io::Result<()> {
        let written = match self.kind.sink() {
            Some(sink) => sink.write_all(&self.buffer),
            None => Ok(()),
        };
        self.buffer.clear();
        written
    }

    /// `bytes`, which do not fit in what is left of the buffer: after
    /// the buffer, into it, or past it if they would fill it alone.
    #[inline(never)]
    fn write_past(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.write_buffer()?;
        match self.kind.sink() {
            Some(sink) if bytes.len() >= BUFFER => sink.write_all(bytes),
            _ => {
                self.buffer.extend_from_slice(bytes);
                Ok(())
            }
        }
    }
}

impl Write for Output {
    #[inline]
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.write_all(bytes).map(|()| bytes.len())
    }

    #[inline]
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.buffer.len() + bytes.len() > BUFFER {
            return self.write_past(bytes);
        }
        self.buffer.extend_from_slice(bytes);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write_buffer()?;
        self.kind.sink().map_or(Ok(()), |sink| sink.flush())
    }
}

/// A closed pipe (`esreplay export jsonl t | head`) is not a failure:
/// `main` ends quietly with exit 0 on such an error.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Writes `bytes` to `path` (`-`: standard output) as one committed output.
pub fn write_whole(path: &Path, bytes: &[u8], sync: Durability) -> Result<()> {
    let mut out = Output::create(path, sync)?;
    out.write_all(bytes)?;
    out.commit()
}

/// Fails when an output is the same file as an input: same device and
/// inode, through links and relative paths alike; a file redirected into
/// standard input (`-`) counts too. Standard output and outputs that do
/// not exist yet are never the same as an input.
pub fn refuse_same_file(inputs: &[&Path], outputs: &[&Path]) -> Result<()> {
    for output in outputs.iter().filter(|p| !is_stdio(p)) {
        let Ok(out) = fs::metadata(output) else {
            continue;
        };
        for input in inputs {
            // `-` is standard input: a file redirected into it counts too.
            let name = if is_stdio(input) {
                Path::new("/dev/stdin")
            } else {
                input
            };
            let Ok(inp) = fs::metadata(name) else {
                continue;
            };
            if (inp.dev(), inp.ino()) == (out.dev(), out.ino()) {
                let input = match is_stdio(input) {
                    true => "standard input".into(),
                    false => input.display().to_string(),
                };
                bail!(
                    "the output {} is the input {input}: writing it would destroy what is read; choose another output",
                    output.display(),
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_reaches_the_target_before_commit() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.txt");
        fs::write(&target, b"old").unwrap();
        let mut out = Output::create(&target, Durability::Synced).unwrap();
        out.write_all(b"new contents").unwrap();
        out.flush().unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"old");
        out.commit().unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"new contents");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no leftovers");
    }

    #[test]
    fn an_output_dropped_uncommitted_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.txt");
        let mut out = Output::create(&target, Durability::Plain).unwrap();
        out.write_all(&[7; 100_000]).unwrap();
        drop(out);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn an_existing_target_keeps_its_mode_and_a_link_is_followed() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.txt");
        fs::write(&real, b"old").unwrap();
        fs::set_permissions(&real, fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.path().join("link.txt");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write_whole(&link, b"new", Durability::Plain).unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read(&real).unwrap(), b"new");
        assert_eq!(fs::metadata(&real).unwrap().mode() & 0o777, 0o640);
    }

    /// A named pipe stands for devices too (a test replacing /dev/null
    /// by mistake would break the machine it runs on).
    /// A named pipe in a new directory, and a thread reading it whole.
    fn pipe_read_whole() -> (tempfile::TempDir, PathBuf, std::thread::JoinHandle<Vec<u8>>) {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success());
        let reading = fifo.clone();
        let reader = std::thread::spawn(move || fs::read(reading).unwrap());
        (dir, fifo, reader)
    }

    #[test]
    fn a_pipe_or_device_is_written_in_place_never_replaced() {
        use std::os::unix::fs::FileTypeExt;
        let (dir, fifo, reader) = pipe_read_whole();
        write_whole(&fifo, b"through the pipe", Durability::Synced).unwrap();
        // Checked first: had the pipe been replaced, the reader would wait.
        assert!(fs::metadata(&fifo).unwrap().file_type().is_fifo());
        assert_eq!(reader.join().unwrap(), b"through the pipe");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no leftovers");
    }

    #[test]
    fn pieces_of_every_size_arrive_whole_and_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.bin");
        let mut out = Output::create(&target, Durability::Plain).unwrap();
        let mut want = Vec::new();
        // Small pieces up to the buffer's edge, one that crosses it, one
        // larger than the buffer (written past it), then small ones again.
        let sizes = [1, 7, BUFFER - 20, 30, 3 * BUFFER + 5, 0, 2, BUFFER, 11];
        for (n, size) in sizes.into_iter().enumerate() {
            let piece: Vec<u8> = (0..size).map(|i| (i * 31 + n) as u8).collect();
            match n % 2 {
                0 => out.write_all(&piece).unwrap(),
                _ => assert_eq!(out.write(&piece).unwrap(), size),
            }
            want.extend_from_slice(&piece);
        }
        out.commit().unwrap();
        assert_eq!(fs::read(&target).unwrap(), want);
    }

    #[test]
    fn a_pipe_gets_what_was_written_when_its_output_is_dropped() {
        let (_dir, fifo, reader) = pipe_read_whole();
        let mut out = Output::create(&fifo, Durability::Plain).unwrap();
        out.write_all(b"buffered, never committed").unwrap();
        drop(out);
        assert_eq!(reader.join().unwrap(), b"buffered, never committed");
    }

    #[test]
    fn the_same_file_is_refused_by_any_name() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a");
        fs::write(&file, b"x").unwrap();
        let hard = dir.path().join("b");
        fs::hard_link(&file, &hard).unwrap();
        let other = dir.path().join("c");
        fs::write(&other, b"y").unwrap();
        assert!(refuse_same_file(&[&file], &[&hard]).is_err());
        assert!(refuse_same_file(&[&file], &[&dir.path().join("./a")]).is_err());
        assert!(refuse_same_file(&[&file], &[&other]).is_ok());
        assert!(refuse_same_file(&[&file], &[&dir.path().join("new")]).is_ok());
        assert!(refuse_same_file(&[&file], &[Path::new("-")]).is_ok());
    }
}
