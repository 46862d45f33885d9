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
use std::io::{self, BufWriter, StdoutLock, Write};
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
pub struct Output {
    kind: Kind,
}

enum Kind {
    Stdout(BufWriter<StdoutLock<'static>>),
    /// A device or pipe given by name (`/dev/null`, `/dev/fd/63`): written
    /// in place, never replaced.
    Special(BufWriter<File>),
    File {
        temp: BufWriter<NamedTempFile>,
        target: PathBuf,
        sync: Durability,
    },
}

impl Output {
    /// Standard output, buffered.
    pub fn stdout() -> Self {
        Output {
            kind: Kind::Stdout(BufWriter::with_capacity(1 << 16, io::stdout().lock())),
        }
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
            return Ok(Output {
                kind: Kind::Special(BufWriter::with_capacity(1 << 16, file)),
            });
        }
        // Replace the file a symbolic link names, not the link.
        let target = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let temp = temporary_beside(&target)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Output {
            kind: Kind::File {
                temp: BufWriter::with_capacity(1 << 16, temp),
                target,
                sync,
            },
        })
    }

    /// Flushes everything and, for a file, renames it into place.
    pub fn commit(self) -> Result<()> {
        match self.kind {
            Kind::Stdout(mut out) => Ok(out.flush()?),
            Kind::Special(mut out) => Ok(out.flush()?),
            Kind::File { temp, target, sync } => commit_file(temp, &target, sync)
                .with_context(|| format!("cannot write {}", target.display())),
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

fn commit_file(temp: BufWriter<NamedTempFile>, target: &Path, sync: Durability) -> Result<()> {
    let temp = temp.into_inner().map_err(|e| e.into_error())?;
    if sync == Durability::Synced {
        temp.as_file().sync_all()?;
    }
    temp.persist(target).map_err(|e| e.error)?;
    if sync == Durability::Synced {
        File::open(directory_of(target))?.sync_all()?;
    }
    Ok(())
}

impl Output {
    fn sink(&mut self) -> &mut dyn Write {
        match &mut self.kind {
            Kind::Stdout(out) => out,
            Kind::Special(out) => out,
            Kind::File { temp, .. } => temp,
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.sink().write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.sink().write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.sink().flush()
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
    #[test]
    fn a_pipe_or_device_is_written_in_place_never_replaced() {
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success());
        let reading = fifo.clone();
        let reader = std::thread::spawn(move || fs::read(reading).unwrap());
        write_whole(&fifo, b"through the pipe", Durability::Synced).unwrap();
        // Checked first: had the pipe been replaced, the reader would wait.
        assert!(fs::metadata(&fifo).unwrap().file_type().is_fifo());
        assert_eq!(reader.join().unwrap(), b"through the pipe");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no leftovers");
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
