//! Signed notes (C2SP `signed-note`) with Ed25519 keys, in the key and
//! note formats of Go's `golang.org/x/mod/sumdb/note`, so the log's
//! checkpoints can be checked by tools other than Zion.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::checkpoint::{Checkpoint, CheckpointError};

/// The algorithm byte of Ed25519 keys in the note formats.
const ALG_ED25519: u8 = 0x01;
/// Prefix of a private key string.
const PRIVATE_PREFIX: &str = "PRIVATE+KEY+";
/// Every signature line starts with an em dash and a space.
const SIG_PREFIX: &str = "\u{2014} ";
/// A note with more signature lines is refused, as Go's parser does, so a
/// crafted note cannot make a verifier spin.
const MAX_SIGNATURES: usize = 100;

/// Why a key string or key name is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("key name {0:?} must be non-empty, without spaces and without '+'")]
    BadName(String),
    #[error("malformed key: {0}")]
    Malformed(&'static str),
    #[error("key algorithm {0:#04x} is not Ed25519 (0x01)")]
    Algorithm(u8),
    #[error(
        "key hint {got} does not match the key (it should be {expected}); the key string was altered"
    )]
    HintMismatch { expected: String, got: String },
    #[error("the system random number generator failed: {0}")]
    Random(String),
}

/// Why a note does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    #[error("the note has no signature by key {name} (hint {hint})")]
    NotSigned { name: String, hint: String },
    #[error("the signature by key {name} does not match the note: it was altered or forged")]
    BadSignature { name: String },
    #[error("the signed note is not a valid checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
}

/// A valid key name: what the note formats allow.
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && !name.contains('+')
        && !name.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn check_name(name: &str) -> Result<(), KeyError> {
    if is_valid_key_name(name) {
        Ok(())
    } else {
        Err(KeyError::BadName(name.to_string()))
    }
}

/// The 4-byte key hint: SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key)[..4].
fn key_hint(name: &str, key: &VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([ALG_ED25519]);
    h.update(key.as_bytes());
    let digest = h.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// Splits `name+hint+base64` (base64 itself may hold '+'), checks the name
/// and decodes the algorithm-tagged 32-byte key.
fn split_key(text: &str) -> Result<(&str, [u8; 4], [u8; 32]), KeyError> {
    let mut parts = text.splitn(3, '+');
    let (Some(name), Some(hint_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(KeyError::Malformed("expected <name>+<hint>+<key>"));
    };
    check_name(name)?;
    let mut hint = [0u8; 4];
    if hint_hex.len() != 8 || hex::decode_to_slice(hint_hex, &mut hint).is_err() {
        return Err(KeyError::Malformed("the hint must be 8 hex digits"));
    }
    let raw = STANDARD
        .decode(key_b64)
        .map_err(|_| KeyError::Malformed("the key is not base64"))?;
    let Some((&alg, key)) = raw.split_first() else {
        return Err(KeyError::Malformed("the key is empty"));
    };
    if alg != ALG_ED25519 {
        return Err(KeyError::Algorithm(alg));
    }
    let key: [u8; 32] = key
        .try_into()
        .map_err(|_| KeyError::Malformed("an Ed25519 key is 32 bytes"))?;
    Ok((name, hint, key))
}

fn check_hint(expected: [u8; 4], got: [u8; 4]) -> Result<(), KeyError> {
    if expected == got {
        Ok(())
    } else {
        Err(KeyError::HintMismatch {
            expected: hex::encode(expected),
            got: hex::encode(got),
        })
    }
}

/// The log's signing key.
pub struct Signer {
    name: String,
    hint: [u8; 4],
    key: SigningKey,
}

impl std::fmt::Debug for Signer {
    // Never print the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("name", &self.name)
            .field("hint", &hex::encode(self.hint))
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A new random key named `name`.
    pub fn generate(name: &str) -> Result<Self, KeyError> {
        check_name(name)?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
        Self::from_seed(name, seed)
    }

    /// The key with this name and 32-byte Ed25519 seed.
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Self, KeyError> {
        check_name(name)?;
        let key = SigningKey::from_bytes(&seed);
        let hint = key_hint(name, &key.verifying_key());
        Ok(Self {
            name: name.to_string(),
            hint,
            key,
        })
    }

    /// Parses `PRIVATE+KEY+<name>+<hint>+<base64(0x01 ‖ seed)>`.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let rest = text
            .trim_end_matches(['\n', '\r'])
            .strip_prefix(PRIVATE_PREFIX)
            .ok_or(KeyError::Malformed(
                "a private key starts with PRIVATE+KEY+",
            ))?;
        let (name, hint, seed) = split_key(rest)?;
        let signer = Self::from_seed(name, seed)?;
        check_hint(signer.hint, hint)?;
        Ok(signer)
    }

    /// The private key string, one line, for the key file. It is the secret.
    pub fn to_private_key_string(&self) -> String {
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(self.key.as_bytes());
        format!(
            "{PRIVATE_PREFIX}{}+{}+{}",
            self.name,
            hex::encode(self.hint),
            STANDARD.encode(raw)
        )
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The matching public verifier.
    pub fn verifier(&self) -> Verifier {
        Verifier {
            name: self.name.clone(),
            hint: self.hint,
            key: self.key.verifying_key(),
        }
    }

    /// The verifier key string: `<name>+<hint>+<base64(0x01 ‖ public key)>`.
    pub fn verifier_key(&self) -> String {
        self.verifier().to_string()
    }

    /// Signs a checkpoint; returns the whole note text.
    pub fn sign(&self, checkpoint: &Checkpoint) -> String {
        // A checkpoint body is always valid note text.
        self.sign_text(&checkpoint.body())
    }

    /// Signs any note text: non-empty lines of printable text, each ending
    /// in a newline. Returns the whole note.
    pub fn sign_note(&self, text: &str) -> Result<String, NoteError> {
        if !text.ends_with('\n') || text.chars().any(|c| c.is_control() && c != '\n') {
            return Err(NoteError::Malformed(
                "note text must end in a newline and hold no control characters",
            ));
        }
        Ok(self.sign_text(text))
    }

    fn sign_text(&self, text: &str) -> String {
        let signature = self.key.sign(text.as_bytes());
        let mut raw = Vec::with_capacity(4 + 64);
        raw.extend_from_slice(&self.hint);
        raw.extend_from_slice(&signature.to_bytes());
        format!(
            "{text}\n{SIG_PREFIX}{} {}\n",
            self.name,
            STANDARD.encode(raw)
        )
    }
}

/// A public key that checks the log's signed notes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verifier {
    name: String,
    hint: [u8; 4],
    key: VerifyingKey,
}

impl std::fmt::Display for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(self.key.as_bytes());
        write!(
            f,
            "{}+{}+{}",
            self.name,
            hex::encode(self.hint),
            STANDARD.encode(raw)
        )
    }
}

impl Verifier {
    /// Parses `<name>+<hint>+<base64(0x01 ‖ public key)>`.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let (name, hint, key) = split_key(text.trim_end_matches(['\n', '\r']))?;
        let key = VerifyingKey::from_bytes(&key)
            .map_err(|_| KeyError::Malformed("not an Ed25519 public key"))?;
        check_hint(key_hint(name, &key), hint)?;
        Ok(Self {
            name: name.to_string(),
            hint,
            key,
        })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key hint as 8 hex digits.
    pub fn hint_hex(&self) -> String {
        hex::encode(self.hint)
    }

    /// Checks a note's signature by this key; returns the signed text.
    ///
    /// Signatures by other keys are ignored, as the format requires; every
    /// signature line naming this key must verify.
    pub fn verify_note<'a>(&self, note: &'a str) -> Result<&'a str, NoteError> {
        if note.chars().any(|c| c.is_control() && c != '\n') {
            return Err(NoteError::Malformed("control character"));
        }
        let split = note
            .rfind("\n\n")
            .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
        let (text, sigs) = (&note[..=split], &note[split + 2..]);
        let sigs = sigs.strip_suffix('\n').ok_or(NoteError::Malformed(
            "no signature lines, or the last one lacks its newline",
        ))?;
        let mut verified = false;
        for (count, line) in sigs.split('\n').enumerate() {
            if count == MAX_SIGNATURES {
                return Err(NoteError::Malformed("too many signatures"));
            }
            let (name, sig_b64) = line
                .strip_prefix(SIG_PREFIX)
                .and_then(|rest| rest.split_once(' '))
                .ok_or(NoteError::Malformed(
                    "a signature line is not '— <name> <signature>'",
                ))?;
            if !is_valid_key_name(name) {
                return Err(NoteError::Malformed("bad key name in a signature line"));
            }
            let raw = STANDARD
                .decode(sig_b64)
                .map_err(|_| NoteError::Malformed("a signature is not base64"))?;
            if raw.len() < 5 {
                return Err(NoteError::Malformed("a signature is too short"));
            }
            if name != self.name || raw[..4] != self.hint {
                continue;
            }
            let bad = || NoteError::BadSignature {
                name: self.name.clone(),
            };
            let signature = Signature::from_slice(&raw[4..]).map_err(|_| bad())?;
            self.key
                .verify_strict(text.as_bytes(), &signature)
                .map_err(|_| bad())?;
            verified = true;
        }
        if !verified {
            return Err(NoteError::NotSigned {
                name: self.name.clone(),
                hint: self.hint_hex(),
            });
        }
        Ok(text)
    }

    /// Checks a signed checkpoint note and returns the checkpoint.
    pub fn verify(&self, note: &str) -> Result<Checkpoint, NoteError> {
        let text = self.verify_note(note)?;
        Ok(Checkpoint::parse_body(text)?)
    }
}

#[cfg(test)]
#[path = "note_tests.rs"]
mod tests;
