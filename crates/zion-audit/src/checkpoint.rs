//! The checkpoint body of C2SP `tlog-checkpoint`: the log's origin, its
//! size and its root hash, one per line. Signing lives in `note`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::hash::{Hash, to_hex};

/// Why a checkpoint body is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint origin must be a non-empty line without control characters")]
    BadOrigin,
    #[error("checkpoint body must be exactly three lines, each ending in a newline")]
    BadShape,
    #[error("checkpoint size {0:?} is not a decimal number without leading zeros")]
    BadSize(String),
    #[error("checkpoint root {0:?} is not the base64 of a 32-byte hash")]
    BadRoot(String),
}

/// A log's signed statement: "the log named `origin` has `size` entries
/// and this root".
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root: Hash,
}

impl Checkpoint {
    /// A checkpoint; the origin is one line of printable text.
    pub fn new(origin: impl Into<String>, size: u64, root: Hash) -> Result<Self, CheckpointError> {
        let origin = origin.into();
        if origin.is_empty() || origin.chars().any(char::is_control) {
            return Err(CheckpointError::BadOrigin);
        }
        Ok(Self { origin, size, root })
    }

    /// The log's name, conventionally its URL without the scheme.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The number of entries.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root hash of the first `size` entries.
    pub fn root(&self) -> &Hash {
        &self.root
    }

    /// The root as hex, for display.
    pub fn root_hex(&self) -> String {
        to_hex(&self.root)
    }

    /// The note body: `origin\nsize\nbase64(root)\n`.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        )
    }

    /// Parses a note body. Extension lines are refused: this log never
    /// writes them, so one can only be a forgery or another log's note.
    pub fn parse_body(text: &str) -> Result<Self, CheckpointError> {
        let lines = text.strip_suffix('\n').ok_or(CheckpointError::BadShape)?;
        let mut it = lines.split('\n');
        let (Some(origin), Some(size), Some(root), None) =
            (it.next(), it.next(), it.next(), it.next())
        else {
            return Err(CheckpointError::BadShape);
        };
        let size_ok = !size.is_empty()
            && size.bytes().all(|b| b.is_ascii_digit())
            && (size == "0" || !size.starts_with('0'));
        let size = size_ok
            .then(|| size.parse::<u64>().ok())
            .flatten()
            .ok_or_else(|| CheckpointError::BadSize(size.to_string()))?;
        let root_hash: Hash = STANDARD
            .decode(root)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| CheckpointError::BadRoot(root.to_string()))?;
        Self::new(origin, size, root_hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;

    #[test]
    fn body_has_three_lines_and_parses_back() {
        let root = leaf_hash(b"x");
        let cp = Checkpoint::new("example.com/log", 42, root).unwrap();
        let body = cp.body();
        let lines: Vec<&str> = body.split_terminator('\n').collect();
        assert_eq!(lines[0], "example.com/log");
        assert_eq!(lines[1], "42");
        assert_eq!(STANDARD.decode(lines[2]).unwrap(), root.to_vec());
        assert!(body.ends_with('\n'));
        assert_eq!(Checkpoint::parse_body(&body).unwrap(), cp);
    }

    #[test]
    fn malformed_bodies_are_refused() {
        let root = STANDARD.encode([7u8; 32]);
        let ok = format!("o\n5\n{root}\n");
        assert!(Checkpoint::parse_body(&ok).is_ok());
        for (bad, want) in [
            (format!("o\n5\n{root}"), CheckpointError::BadShape),
            (format!("o\n5\n{root}\next\n"), CheckpointError::BadShape),
            ("o\n5\n".to_string(), CheckpointError::BadShape),
            (format!("\n5\n{root}\n"), CheckpointError::BadOrigin),
            (
                format!("o\n05\n{root}\n"),
                CheckpointError::BadSize("05".into()),
            ),
            (
                format!("o\n-5\n{root}\n"),
                CheckpointError::BadSize("-5".into()),
            ),
            (
                format!("o\n+5\n{root}\n"),
                CheckpointError::BadSize("+5".into()),
            ),
            (
                format!("o\n\n{root}\n"),
                CheckpointError::BadSize(String::new()),
            ),
            (
                format!("o\n99999999999999999999\n{root}\n"),
                CheckpointError::BadSize("99999999999999999999".into()),
            ),
            (
                format!("o\n5\n{}\n", STANDARD.encode([7u8; 31])),
                CheckpointError::BadRoot(STANDARD.encode([7u8; 31])),
            ),
            (
                "o\n5\nnot base64!\n".to_string(),
                CheckpointError::BadRoot("not base64!".into()),
            ),
        ] {
            assert_eq!(Checkpoint::parse_body(&bad), Err(want), "{bad:?}");
        }
    }

    #[test]
    fn origin_must_be_one_printable_line() {
        assert_eq!(
            Checkpoint::new("", 0, [0; 32]),
            Err(CheckpointError::BadOrigin)
        );
        assert_eq!(
            Checkpoint::new("a\nb", 0, [0; 32]),
            Err(CheckpointError::BadOrigin)
        );
        assert_eq!(
            Checkpoint::new("a\tb", 0, [0; 32]),
            Err(CheckpointError::BadOrigin)
        );
        assert!(Checkpoint::new("zion.example/audit log", 0, [0; 32]).is_ok());
    }
}
