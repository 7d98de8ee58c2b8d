//! Offline verification bundles: a folder anyone can check without Zion's
//! server or database.
//!
//! ```text
//! entries.jsonl   one canonical entry per line, entry 0 first
//! checkpoint      the latest signed checkpoint note
//! verifier.key    the log's public key, one line
//! ```
//!
//! This module is the crate's only I/O.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::note::{KeyError, Verifier};
use crate::verify::{LogVerifier, VerifyError, VerifyReport};

/// The entries file's name in a bundle.
pub const ENTRIES_FILE: &str = "entries.jsonl";
/// The checkpoint file's name in a bundle.
pub const CHECKPOINT_FILE: &str = "checkpoint";
/// The verifier key file's name in a bundle.
pub const KEY_FILE: &str = "verifier.key";

/// Why a bundle cannot be written, read or verified.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("entry {index} contains a line break, so it is not canonical JSON")]
    EntryHasNewline { index: u64 },
    #[error("{}: {source}", .path.display())]
    Key { path: PathBuf, source: KeyError },
    #[error(transparent)]
    Verify(#[from] VerifyError),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> BundleError + '_ {
    move |source| BundleError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes a bundle entry by entry, so a large log never sits in memory.
#[derive(Debug)]
pub struct BundleWriter {
    dir: PathBuf,
    entries: BufWriter<File>,
    count: u64,
}

impl BundleWriter {
    /// Creates `dir` if needed and starts its entries file (replacing any).
    pub fn create(dir: &Path) -> Result<Self, BundleError> {
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        let path = dir.join(ENTRIES_FILE);
        let file = File::create(&path).map_err(io_error(&path))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            entries: BufWriter::new(file),
            count: 0,
        })
    }

    /// Appends the next entry's canonical bytes.
    pub fn push(&mut self, entry: &[u8]) -> Result<(), BundleError> {
        if entry.contains(&b'\n') {
            return Err(BundleError::EntryHasNewline { index: self.count });
        }
        let path = self.dir.join(ENTRIES_FILE);
        self.entries.write_all(entry).map_err(io_error(&path))?;
        self.entries.write_all(b"\n").map_err(io_error(&path))?;
        self.count += 1;
        Ok(())
    }

    /// Writes the checkpoint and key files; returns the number of entries.
    pub fn finish(mut self, checkpoint_note: &str, verifier_key: &str) -> Result<u64, BundleError> {
        let path = self.dir.join(ENTRIES_FILE);
        self.entries.flush().map_err(io_error(&path))?;
        self.entries.get_ref().sync_all().map_err(io_error(&path))?;
        let path = self.dir.join(CHECKPOINT_FILE);
        std::fs::write(&path, checkpoint_note).map_err(io_error(&path))?;
        let path = self.dir.join(KEY_FILE);
        std::fs::write(&path, format!("{}\n", verifier_key.trim_end())).map_err(io_error(&path))?;
        Ok(self.count)
    }
}

/// Writes a whole bundle; returns the number of entries.
pub fn write_bundle<I, B>(
    dir: &Path,
    entries: I,
    checkpoint_note: &str,
    verifier_key: &str,
) -> Result<u64, BundleError>
where
    I: IntoIterator<Item = B>,
    B: AsRef<[u8]>,
{
    let mut writer = BundleWriter::create(dir)?;
    for entry in entries {
        writer.push(entry.as_ref())?;
    }
    writer.finish(checkpoint_note, verifier_key)
}

/// A bundle on disk.
#[derive(Debug, Clone)]
pub struct Bundle {
    dir: PathBuf,
    /// The checkpoint note text.
    pub checkpoint: String,
    /// The verifier key string shipped with the bundle.
    pub verifier_key: String,
}

impl Bundle {
    /// Reads a bundle's checkpoint and key; entries are streamed later.
    pub fn open(dir: &Path) -> Result<Self, BundleError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read_to_string(&path).map_err(io_error(&path))
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            checkpoint: read(CHECKPOINT_FILE)?,
            verifier_key: read(KEY_FILE)?.trim_end().to_string(),
        })
    }

    /// The key shipped with the bundle.
    pub fn verifier(&self) -> Result<Verifier, BundleError> {
        Verifier::parse(&self.verifier_key).map_err(|source| BundleError::Key {
            path: self.dir.join(KEY_FILE),
            source,
        })
    }

    /// The entries' bytes, in order, without their line breaks.
    pub fn entries(
        &self,
    ) -> Result<impl Iterator<Item = Result<Vec<u8>, BundleError>> + use<>, BundleError> {
        let path = self.dir.join(ENTRIES_FILE);
        let mut reader = BufReader::new(File::open(&path).map_err(io_error(&path))?);
        Ok(std::iter::from_fn(move || {
            let mut line = Vec::new();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => None,
                Ok(_) => {
                    if line.last() == Some(&b'\n') {
                        line.pop();
                    }
                    Some(Ok(line))
                }
                Err(source) => Some(Err(BundleError::Io {
                    path: path.clone(),
                    source,
                })),
            }
        }))
    }

    /// Verifies the bundle with `verifier`: every entry against the
    /// checkpoint's root and signature.
    pub fn verify_with(&self, verifier: &Verifier) -> Result<VerifyReport, BundleError> {
        let mut log = LogVerifier::new(verifier, &[self.checkpoint.as_str()])?;
        for (index, entry) in (0u64..).zip(self.entries()?) {
            log.push(index, &entry?, None)?;
        }
        Ok(log.finish()?)
    }
}

/// Verifies the bundle in `dir` with the key it ships. That shows the
/// bundle is intact and signed by that key; compare the key with one
/// obtained independently (or use [`verify_bundle_with`]) to know whose.
pub fn verify_bundle(dir: &Path) -> Result<VerifyReport, BundleError> {
    let bundle = Bundle::open(dir)?;
    bundle.verify_with(&bundle.verifier()?)
}

/// Verifies the bundle in `dir` with a key the caller already trusts.
pub fn verify_bundle_with(dir: &Path, verifier: &Verifier) -> Result<VerifyReport, BundleError> {
    Bundle::open(dir)?.verify_with(verifier)
}
