use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

use super::*;
use crate::hash::leaf_hash;

// The example key and note of Go's golang.org/x/mod/sumdb/note.
const GO_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const GO_SKEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const GO_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

fn signer(name: &str, byte: u8) -> Signer {
    Signer::from_seed(name, [byte; 32]).unwrap()
}

fn checkpoint() -> Checkpoint {
    Checkpoint::new("zion.example/audit", 1234, leaf_hash(b"root")).unwrap()
}

#[test]
fn reproduces_the_go_reference_note_byte_for_byte() {
    let s = Signer::parse(GO_SKEY).unwrap();
    assert_eq!(s.name(), "PeterNeumann");
    assert_eq!(s.to_private_key_string(), GO_SKEY);
    assert_eq!(s.verifier_key(), GO_VKEY);
    let note = s.sign_note(GO_TEXT).unwrap();
    assert_eq!(note, format!("{GO_TEXT}\n{GO_SIG}"));
    let v = Verifier::parse(GO_VKEY).unwrap();
    assert_eq!(v.hint_hex(), "c74f20a3");
    assert_eq!(v.verify_note(&note), Ok(GO_TEXT));
    // Not a checkpoint, so `verify` refuses it after the signature passes.
    assert!(matches!(v.verify(&note), Err(NoteError::Checkpoint(_))));
}

#[test]
fn checkpoint_note_checked_independently() {
    let s = Signer::generate("zion.example/audit").unwrap();
    let cp = checkpoint();
    let note = s.sign(&cp);
    assert_eq!(s.verifier().verify(&note), Ok(cp.clone()));

    // Rebuild everything from the format description alone.
    let vkey = s.verifier_key();
    let mut parts = vkey.splitn(3, '+');
    let (name, hint_hex, key_b64) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    assert_eq!(name, "zion.example/audit");
    let key_raw = STANDARD.decode(key_b64).unwrap();
    assert_eq!(key_raw.len(), 33);
    assert_eq!(key_raw[0], 0x01);
    let public: [u8; 32] = key_raw[1..].try_into().unwrap();
    let mut h = Sha256::new();
    h.update(b"zion.example/audit\n\x01");
    h.update(public);
    let hint = h.finalize()[..4].to_vec();
    assert_eq!(hint_hex, hex::encode(&hint));

    let body = format!(
        "zion.example/audit\n1234\n{}\n",
        STANDARD.encode(leaf_hash(b"root"))
    );
    let (text, sig_line) = note.split_once("\n\n").unwrap();
    assert_eq!(format!("{text}\n"), body);
    let sig_line = sig_line.strip_suffix('\n').unwrap();
    let rest = sig_line
        .strip_prefix("\u{2014} zion.example/audit ")
        .unwrap();
    let raw = STANDARD.decode(rest).unwrap();
    assert_eq!(raw.len(), 68);
    assert_eq!(raw[..4], hint[..]);
    let sig = Signature::from_slice(&raw[4..]).unwrap();
    VerifyingKey::from_bytes(&public)
        .unwrap()
        .verify_strict(body.as_bytes(), &sig)
        .unwrap();
}

#[test]
fn private_key_round_trip_and_no_secret_in_debug() {
    let s = Signer::generate("log").unwrap();
    let text = s.to_private_key_string();
    assert!(text.starts_with("PRIVATE+KEY+log+"));
    assert!(!text.contains('\n'));
    let back = Signer::parse(&format!("{text}\n")).unwrap();
    assert_eq!(back.verifier_key(), s.verifier_key());
    // Ed25519 is deterministic: the same key signs the same bytes.
    assert_eq!(back.sign(&checkpoint()), s.sign(&checkpoint()));
    // The key is everything after the prefix: base64 may itself hold a
    // `+`, and a fragment of it could appear in any text.
    let secret = text.strip_prefix("PRIVATE+KEY+log+").unwrap();
    assert!(!format!("{s:?}").contains(secret));
    // Two generated keys differ.
    assert_ne!(
        Signer::generate("log").unwrap().verifier_key(),
        s.verifier_key()
    );
}

#[test]
fn tampered_notes_are_refused() {
    let s = signer("log", 1);
    let v = s.verifier();
    let note = s.sign(&checkpoint());
    let root_b64 = STANDARD.encode(leaf_hash(b"root"));
    let bad_sig = NoteError::BadSignature { name: "log".into() };
    // Any change to the signed text.
    for (from, to) in [
        ("1234", "1235"),
        ("zion.example/audit", "zion.example/audiT"),
        (
            root_b64.as_str(),
            STANDARD.encode(leaf_hash(b"other")).as_str(),
        ),
    ] {
        let forged = note.replacen(from, to, 1);
        assert_ne!(forged, note);
        assert_eq!(v.verify(&forged), Err(bad_sig.clone()), "{from} -> {to}");
    }
    // Any change to the signature itself.
    let (text, line) = note.split_once("\n\n").unwrap();
    let b64 = line.trim_end().rsplit(' ').next().unwrap();
    let mut raw = STANDARD.decode(b64).unwrap();
    for i in 4..raw.len() {
        raw[i] ^= 0x40;
        let forged = format!("{text}\n\n\u{2014} log {}\n", STANDARD.encode(&raw));
        assert_eq!(v.verify(&forged), Err(bad_sig.clone()), "byte {i}");
        raw[i] ^= 0x40;
    }
    // A truncated signature from this key.
    let short = format!("{text}\n\n\u{2014} log {}\n", STANDARD.encode(&raw[..40]));
    assert_eq!(v.verify(&short), Err(bad_sig));
}

#[test]
fn wrong_key_name_or_hint_is_not_a_signature() {
    let s = signer("log", 1);
    let note = s.sign(&checkpoint());
    // Another key under the same name: its hint differs.
    assert!(matches!(
        signer("log", 2).verifier().verify(&note),
        Err(NoteError::NotSigned { .. })
    ));
    // The same key under another name.
    assert!(matches!(
        signer("other", 1).verifier().verify(&note),
        Err(NoteError::NotSigned { .. })
    ));
    // A line naming our key with a foreign hint is someone else's key.
    let v = s.verifier();
    let (text, _) = note.split_once("\n\n").unwrap();
    let fake = format!("{text}\n\n\u{2014} log {}\n", STANDARD.encode([0u8; 68]));
    assert_eq!(
        v.verify(&fake),
        Err(NoteError::NotSigned {
            name: "log".into(),
            hint: v.hint_hex()
        })
    );
}

#[test]
fn other_signatures_are_ignored_and_cosigned_notes_verify() {
    let (a, b) = (signer("log", 1), signer("witness", 2));
    let cp = checkpoint();
    let note_a = s_line(&a.sign(&cp));
    let note_b = s_line(&b.sign(&cp));
    let body = cp.body();
    let both = format!("{body}\n{note_b}{note_a}");
    assert_eq!(a.verifier().verify(&both), Ok(cp.clone()));
    assert_eq!(b.verifier().verify(&both), Ok(cp));
}

/// The signature line of a one-signature note.
fn s_line(note: &str) -> String {
    note.split_once("\n\n").unwrap().1.to_string()
}

#[test]
fn malformed_notes_are_refused() {
    let s = signer("log", 1);
    let v = s.verifier();
    let note = s.sign(&checkpoint());
    let sig = s_line(&note);
    let body = checkpoint().body();
    let cases = [
        note.replace("\n\n", "\n"),                            // no blank line
        note.trim_end().to_string(),                           // last line unterminated
        format!("{body}\n"),                                   // no signatures
        note.replace('\u{2014}', "-"),                         // not an em dash
        format!("{body}\n{}", sig.replacen(' ', "  ", 1)),     // two spaces: empty name
        format!("{body}\n{}", sig.replacen("log ", "log", 1)), // no space before the signature
        format!("{body}\n{}", sig.replace("log", "lo g")),     // invalid name
        format!("{body}\n\u{2014} log !!!\n"),                 // not base64
        format!("{body}\n\u{2014} log AAAA\n"),                // too short
        format!("{body}\n{sig}\n"),                            // empty line among signatures
        note.replacen("1234", "12\r34", 1),                    // control character
        format!("{body}\n{}", sig.repeat(101)),                // too many signatures
    ];
    for bad in cases {
        assert!(
            matches!(v.verify(&bad), Err(NoteError::Malformed(_))),
            "{bad:?} gave {:?}",
            v.verify(&bad)
        );
    }
    // A signed note whose body is not a checkpoint.
    let other = s.sign_note("hello\nworld\n").unwrap();
    assert!(matches!(
        v.verify(&other),
        Err(NoteError::Checkpoint(CheckpointError::BadShape))
    ));
    assert!(s.sign_note("no newline").is_err());
    assert!(s.sign_note("tab\there\n").is_err());
}

#[test]
fn key_names_are_validated() {
    for bad in ["", "a b", "a+b", "tab\tname", "line\nbreak", "nbsp\u{a0}x"] {
        assert_eq!(
            Signer::generate(bad).err(),
            Some(KeyError::BadName(bad.to_string()))
        );
        assert!(!is_valid_key_name(bad));
    }
    for good in ["log", "zion.example/audit", "Ünïcode"] {
        assert!(is_valid_key_name(good));
        let s = signer(good, 3);
        assert_eq!(Verifier::parse(&s.verifier_key()).unwrap(), s.verifier());
    }
}

#[test]
fn mangled_keys_are_refused() {
    // As Go's note tests do: every proper substring and every single-byte
    // change of a valid key string must fail to parse.
    for (key, parse) in [
        (
            GO_VKEY,
            (|k: &str| Verifier::parse(k).is_ok()) as fn(&str) -> bool,
        ),
        (GO_SKEY, |k: &str| Signer::parse(k).is_ok()),
    ] {
        assert!(parse(key));
        let b = key.as_bytes();
        for i in 0..=b.len() {
            for j in i + 1..=b.len() {
                if (i, j) != (0, b.len()) {
                    let sub = std::str::from_utf8(&b[i..j]).unwrap();
                    assert!(!parse(sub), "{sub:?} parsed");
                }
            }
        }
        for i in 0..b.len() {
            let mut m = b.to_vec();
            m[i] += 1;
            let m = String::from_utf8(m).unwrap();
            assert!(!parse(&m), "{m:?} parsed");
        }
    }
    assert!(matches!(
        Verifier::parse("PeterNeumann+c74f20a3+AhpjZA=="),
        Err(KeyError::Algorithm(2))
    ));
    assert!(matches!(
        Verifier::parse("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"),
        Err(KeyError::HintMismatch { .. })
    ));
    assert!(matches!(
        Signer::parse(GO_VKEY),
        Err(KeyError::Malformed(_))
    ));
}
