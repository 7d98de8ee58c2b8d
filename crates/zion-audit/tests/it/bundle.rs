//! Offline bundles on disk: written, read back, verified, and tampered with.

use std::path::Path;

use serde_json::json;
use zion_audit::archive::ARCHIVE_DIR;
use zion_audit::bundle::{Bundle, CHECKPOINT_FILE, ENTRIES_FILE, KEY_FILE};
use zion_audit::{
    BundleError, Checkpoint, Entry, MemoryTree, NoteError, Signer, VerifyError, bundle_archive,
    verify_bundle, verify_bundle_with, write_bundle,
};

struct Fixture {
    signer: Signer,
    entries: Vec<Vec<u8>>,
    note: String,
}

fn fixture(n: u64) -> Fixture {
    let signer = Signer::from_seed("zion.test/bundle", [5; 32]).unwrap();
    let entries: Vec<Vec<u8>> = (0..n)
        .map(|seq| {
            Entry::new(
                seq,
                jiff::Timestamp::from_second(1_780_000_000 + 60 * seq as i64).unwrap(),
                "bob",
                "approval.granted",
                format!("deployment/{seq}"),
                json!({"comment": "looks good\nship it", "roles": ["approver"]}),
            )
            .canonical_json()
        })
        .collect();
    let mut tree = MemoryTree::new();
    for e in &entries {
        tree.push(e);
    }
    let cp = Checkpoint::new("zion.test/bundle", n, tree.root()).unwrap();
    let note = signer.sign(&cp);
    Fixture {
        signer,
        entries,
        note,
    }
}

fn write(dir: &Path, f: &Fixture) {
    let count = write_bundle(dir, &f.entries, &f.note, &f.signer.verifier_key()).unwrap();
    assert_eq!(count, f.entries.len() as u64);
}

fn lines(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join(ENTRIES_FILE))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn set_lines(dir: &Path, lines: &[String]) {
    std::fs::write(dir.join(ENTRIES_FILE), lines.join("\n") + "\n").unwrap();
}

#[test]
fn a_written_bundle_reads_back_and_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let f = fixture(25);
    write(tmp.path(), &f);
    let bundle = Bundle::open(tmp.path()).unwrap();
    assert_eq!(bundle.checkpoint, f.note);
    assert_eq!(bundle.verifier_key, f.signer.verifier_key());
    let read: Vec<Vec<u8>> = bundle.entries().unwrap().map(Result::unwrap).collect();
    assert_eq!(read, f.entries);
    // Each line is the entry's canonical JSON, newlines in strings escaped.
    for line in lines(tmp.path()) {
        Entry::from_canonical_json(line.as_bytes()).unwrap();
    }
    let report = verify_bundle(tmp.path()).unwrap();
    assert_eq!(report.entries, 25);
    assert_eq!(report.unsigned_entries, 0);
    assert_eq!(report.latest.unwrap().size(), 25);
    verify_bundle_with(tmp.path(), &f.signer.verifier()).unwrap();
}

#[test]
fn tampered_bundles_fail_naming_what_changed() {
    let f = fixture(20);
    let tamper = |edit: &dyn Fn(&mut Vec<String>)| {
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), &f);
        let mut l = lines(tmp.path());
        edit(&mut l);
        set_lines(tmp.path(), &l);
        verify_bundle(tmp.path())
    };
    // An edited entry: only the signed root can tell.
    let r = tamper(&|l| l[6] = l[6].replace("\"bob\"", "\"eve\""));
    assert!(
        matches!(
            r,
            Err(BundleError::Verify(VerifyError::RootMismatch {
                size: 20,
                ..
            }))
        ),
        "{r:?}"
    );
    // A deleted entry: the next one sits at its index.
    let r = tamper(&|l| {
        l.remove(9);
    });
    assert!(
        matches!(
            r,
            Err(BundleError::Verify(VerifyError::SeqMismatch {
                index: 9,
                seq: 10
            }))
        ),
        "{r:?}"
    );
    // Two entries swapped.
    let r = tamper(&|l| l.swap(2, 14));
    assert!(
        matches!(
            r,
            Err(BundleError::Verify(VerifyError::SeqMismatch {
                index: 2,
                seq: 14
            }))
        ),
        "{r:?}"
    );
    // The tail removed.
    let r = tamper(&|l| l.truncate(18));
    assert!(
        matches!(
            r,
            Err(BundleError::Verify(VerifyError::CheckpointBeyondLog {
                size: 20,
                entries: 18
            }))
        ),
        "{r:?}"
    );
    // An entry added after the checkpoint: an export holds exactly what its
    // checkpoint signs, so anything more was added afterwards.
    let extra = String::from_utf8(fixture(21).entries[20].clone()).unwrap();
    let r = tamper(&|l| l.push(extra.clone()));
    assert!(
        matches!(
            r,
            Err(BundleError::Verify(VerifyError::UnsignedEntries {
                first: 20,
                last: 20
            }))
        ),
        "{r:?}"
    );
}

#[test]
fn a_replaced_key_is_caught_by_a_pinned_key() {
    let tmp = tempfile::tempdir().unwrap();
    let f = fixture(8);
    write(tmp.path(), &f);
    // An attacker rewrites history and re-signs with a key of the same name.
    let attacker = Signer::from_seed("zion.test/bundle", [6; 32]).unwrap();
    let mut tree = MemoryTree::new();
    let mut forged = f.entries.clone();
    forged[3] = Entry::from_json(&forged[3])
        .map(|mut e| {
            e.actor = "eve".into();
            e.canonical_json()
        })
        .unwrap();
    for e in &forged {
        tree.push(e);
    }
    let note = attacker.sign(&Checkpoint::new("zion.test/bundle", 8, tree.root()).unwrap());
    write_bundle(tmp.path(), &forged, &note, &attacker.verifier_key()).unwrap();
    // Self-consistent with the shipped key...
    assert!(verify_bundle(tmp.path()).is_ok());
    // ...but not signed by the key the reader trusts.
    let r = verify_bundle_with(tmp.path(), &f.signer.verifier());
    assert!(
        matches!(
            r,
            Err(BundleError::Verify(VerifyError::Checkpoint {
                source: NoteError::NotSigned { .. },
                ..
            }))
        ),
        "{r:?}"
    );
    // Swapping only the key file breaks the signature check.
    let tmp2 = tempfile::tempdir().unwrap();
    write(tmp2.path(), &f);
    std::fs::write(tmp2.path().join(KEY_FILE), attacker.verifier_key()).unwrap();
    assert!(verify_bundle(tmp2.path()).is_err());
}

#[test]
fn io_and_format_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope");
    let err = verify_bundle(&missing).unwrap_err();
    assert!(matches!(err, BundleError::Io { .. }));
    assert!(err.to_string().contains(CHECKPOINT_FILE), "{err}");
    let f = fixture(3);
    let err = write_bundle(tmp.path(), [b"{\n}".as_slice()], &f.note, "k").unwrap_err();
    assert!(matches!(err, BundleError::EntryHasNewline { index: 0 }));
    write(tmp.path(), &f);
    std::fs::write(tmp.path().join(KEY_FILE), "garbage\n").unwrap();
    assert!(matches!(
        verify_bundle(tmp.path()),
        Err(BundleError::Key { .. })
    ));
}

#[test]
fn an_unpacked_archive_is_a_bundle_that_verifies() {
    let f = fixture(9);
    let bytes = bundle_archive(&f.entries, &f.note, &f.signer.verifier_key()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    tar::Archive::new(bytes.as_slice())
        .unpack(tmp.path())
        .unwrap();
    let dir = tmp.path().join(ARCHIVE_DIR);
    assert_eq!(lines(&dir).len(), 9);
    let report = verify_bundle_with(&dir, &f.signer.verifier()).unwrap();
    assert_eq!(report.entries, 9);
}

#[test]
fn an_archive_refuses_an_entry_with_a_line_break() {
    let err = bundle_archive([b"{\n}".as_slice()], "note", "k").unwrap_err();
    assert!(
        matches!(err, BundleError::EntryHasNewline { index: 0 }),
        "{err}"
    );
}
