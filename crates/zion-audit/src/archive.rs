//! A bundle as one tar archive, built in memory: what a browser downloads
//! instead of a folder. Unpacked (`tar xf`), it is the folder
//! [`crate::bundle`] describes, which `zion audit verify --bundle` checks.

use crate::bundle::{BundleError, CHECKPOINT_FILE, ENTRIES_FILE, KEY_FILE};

/// The folder every file of the archive sits in, so that unpacking it
/// makes one folder rather than scattering three files.
pub const ARCHIVE_DIR: &str = "zion-audit-bundle";

/// The tar archive of a bundle: the entries (canonical bytes, entry 0
/// first), the checkpoint note and the verifier key, in [`ARCHIVE_DIR`].
pub fn bundle_archive<I, B>(
    entries: I,
    checkpoint_note: &str,
    verifier_key: &str,
) -> Result<Vec<u8>, BundleError>
where
    I: IntoIterator<Item = B>,
    B: AsRef<[u8]>,
{
    let mut lines = Vec::new();
    for (index, entry) in entries.into_iter().enumerate() {
        let entry = entry.as_ref();
        if entry.contains(&b'\n') {
            return Err(BundleError::EntryHasNewline {
                index: index as u64,
            });
        }
        lines.extend_from_slice(entry);
        lines.push(b'\n');
    }
    let key = format!("{}\n", verifier_key.trim_end());
    let mut tar = tar::Builder::new(Vec::new());
    for (name, bytes) in [
        (ENTRIES_FILE, lines.as_slice()),
        (CHECKPOINT_FILE, checkpoint_note.as_bytes()),
        (KEY_FILE, key.as_bytes()),
    ] {
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        let path = format!("{ARCHIVE_DIR}/{name}");
        tar.append_data(&mut header, &path, bytes)
            .map_err(|source| BundleError::Io {
                path: path.into(),
                source,
            })?;
    }
    tar.into_inner().map_err(|source| BundleError::Io {
        path: ARCHIVE_DIR.into(),
        source,
    })
}
