//! The audit log end to end: what the control plane records, `zion audit
//! verify` catching rows altered, deleted and reordered straight in the
//! SQLite file, an inclusion proof checked by a verifier written here
//! (not Zion's), and an exported bundle verified offline.

use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::support::*;

type Hash = [u8; 32];

fn leaf(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

fn node(l: &Hash, r: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(l);
    h.update(r);
    h.finalize().into()
}

/// RFC 9162 §2.1.3.2, written from the RFC for this test.
fn root_from_inclusion(index: u64, size: u64, leaf_hash: Hash, proof: &[Hash]) -> Option<Hash> {
    if index >= size {
        return None;
    }
    let (mut fnum, mut snum) = (index, size - 1);
    let mut r = leaf_hash;
    for p in proof {
        if snum == 0 {
            return None;
        }
        if fnum & 1 == 1 || fnum == snum {
            r = node(p, &r);
            if fnum & 1 == 0 {
                while fnum & 1 == 0 && fnum != 0 {
                    fnum >>= 1;
                    snum >>= 1;
                }
            }
        } else {
            r = node(&r, p);
        }
        fnum >>= 1;
        snum >>= 1;
    }
    (snum == 0).then_some(r)
}

/// RFC 9162 §2.1.4.2, written from the RFC for this test.
fn consistent(
    first: u64,
    second: u64,
    first_hash: Hash,
    second_hash: Hash,
    proof: &[Hash],
) -> bool {
    if first == second {
        return proof.is_empty() && first_hash == second_hash;
    }
    if first == 0 || first > second || proof.is_empty() {
        return false;
    }
    let mut path = proof.to_vec();
    if first.is_power_of_two() {
        path.insert(0, first_hash);
    }
    let (mut fnum, mut snum) = (first - 1, second - 1);
    while fnum & 1 == 1 {
        fnum >>= 1;
        snum >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if snum == 0 {
            return false;
        }
        if fnum & 1 == 1 || fnum == snum {
            fr = node(c, &fr);
            sr = node(c, &sr);
            if fnum & 1 == 0 {
                while fnum & 1 == 0 && fnum != 0 {
                    fnum >>= 1;
                    snum >>= 1;
                }
            }
        } else {
            sr = node(&sr, c);
        }
        fnum >>= 1;
        snum >>= 1;
    }
    snum == 0 && fr == first_hash && sr == second_hash
}

/// The size and root a checkpoint note signs.
fn note_root(note: &str) -> (u64, Hash) {
    let lines: Vec<&str> = note.lines().collect();
    let root = base64::engine::general_purpose::STANDARD
        .decode(lines[2])
        .unwrap();
    (lines[1].parse().unwrap(), root.try_into().unwrap())
}

fn hex32(s: &str) -> Hash {
    let bytes: Vec<u8> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect();
    bytes.try_into().unwrap()
}

fn verify_fails_at(p: &Project, index: u64) {
    let out = p.zion(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("FAILED verification at entry {index}")),
        "{}",
        describe(&out)
    );
}

#[test]
fn the_log_records_changes_proves_them_and_catches_tampering() {
    let mut p = Project::new("        - { weight: 100 }", &[], "20s");
    p.start();
    let out = p.zion(&["deploy", "web", "1.0", "--env", "staging", "--wait"]);
    assert!(out.status.success(), "{}", describe(&out));
    let out = p.zion(&["deploy", "web", "2.0", "--env", "staging", "--wait"]);
    assert!(out.status.success(), "{}", describe(&out));
    p.token("alice", "approver");

    let log = p.json(&["audit", "log"]);
    let entries = log.as_array().unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["entry"]["action"].as_str().unwrap())
        .collect();
    for a in [
        "spec.apply",
        "deployment.create",
        "deployment.transition",
        "token.create",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e["index"], i as u64);
        assert_eq!(e["entry"]["seq"], i as u64);
    }
    let succeeded = entries
        .iter()
        .find(|e| {
            e["entry"]["details"]["to"] == "succeeded" && e["entry"]["details"]["version"] == "2.0"
        })
        .expect("2.0's success is recorded");
    assert_eq!(succeeded["entry"]["actor"], "controller");
    let out = p.zion(&["audit", "verify"]);
    assert!(out.status.success(), "{}", describe(&out));

    // The compliance report reads the same entries: two staging deployments
    // switched directly, so no analysis was recorded for either.
    let r = p.json(&["compliance", "report", "--format", "json"]);
    assert_eq!(r["monitoring"]["deployments"]["total"], 2, "{r}");
    assert_eq!(r["monitoring"]["deployments"]["share"], 0.0, "{r}");
    assert_eq!(
        r["monitoring"]["without_analysis"],
        serde_json::json!([1, 2])
    );
    assert!(r["change_management"]["production_deployments"]["share"].is_null());
    assert_eq!(r["log_integrity"]["ok"], true);
    assert_eq!(r["access_control"]["unattributed"], serde_json::json!([]));
    let md = String::from_utf8_lossy(&p.zion(&["compliance", "report"]).stdout).to_string();
    assert!(
        md.contains("## Change management")
            && md.contains("no data for this period")
            && md.contains("## Log integrity"),
        "{md}"
    );

    // An inclusion proof, checked without Zion's code.
    let n = entries.len() as u64;
    let index = n / 2;
    let proof = p.json(&["audit", "proof", &index.to_string()]);
    let size = proof["tree_size"].as_u64().unwrap();
    assert!(size >= n, "{proof}");
    let canonical = entries[index as usize]["canonical"].as_str().unwrap();
    let lh = leaf(canonical.as_bytes());
    assert_eq!(proof["leaf_hash"], hex_of(&lh));
    let hashes: Vec<Hash> = proof["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| hex32(h.as_str().unwrap()))
        .collect();
    let note = proof["checkpoint"].as_str().unwrap();
    let lines: Vec<&str> = note.lines().collect();
    assert_eq!(lines[1], size.to_string());
    let signed_root = base64::engine::general_purpose::STANDARD
        .decode(lines[2])
        .unwrap();
    let root = root_from_inclusion(index, size, lh, &hashes).expect("a well-formed proof");
    assert_eq!(
        root.to_vec(),
        signed_root,
        "the proof leads to the signed root"
    );
    let mut bad = hashes.clone();
    bad[0][0] ^= 1;
    assert_ne!(
        root_from_inclusion(index, size, lh, &bad).map(|r| r.to_vec()),
        Some(signed_root)
    );
    let key = String::from_utf8_lossy(&p.zion(&["audit", "key"]).stdout).to_string();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("— {}", key.split('+').next().unwrap()))),
        "{note} / {key}"
    );

    // The kept checkpoints proved consistent, checked without Zion's code.
    let db = rusqlite::Connection::open(p.data_dir().join("zion.db")).unwrap();
    let kept: Vec<i64> = db
        .prepare("SELECT size FROM audit_checkpoints ORDER BY size")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    drop(db);
    assert!(!kept.is_empty());
    let (old, new) = (kept[0] as u64, *kept.last().unwrap() as u64);
    let c = p.json(&["audit", "consistency", &old.to_string(), &new.to_string()]);
    let (old_size, old_root) = note_root(c["old_checkpoint"].as_str().unwrap());
    let (new_size, new_root) = note_root(c["new_checkpoint"].as_str().unwrap());
    assert_eq!((old_size, new_size), (old, new), "{c}");
    assert_eq!(c["old_root"], hex_of(&old_root));
    assert_eq!(c["new_root"], hex_of(&new_root));
    let path: Vec<Hash> = c["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| hex32(h.as_str().unwrap()))
        .collect();
    assert!(consistent(old, new, old_root, new_root, &path), "{c}");
    if !path.is_empty() {
        let mut bad = path.clone();
        bad[0][31] ^= 1;
        assert!(!consistent(old, new, old_root, new_root, &bad));
    }
    // OLD past NEW is a usage error.
    let out = p.zion(&["audit", "consistency", &new.to_string(), &old.to_string()]);
    if new > old {
        assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    }

    // Exported, then verified offline; a changed byte is caught.
    let bundle = p.dir.path().join("bundle");
    let out = p.zion(&["audit", "export", bundle.to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));
    let out = p.zion(&["audit", "verify", "--bundle", bundle.to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));
    // A bundle holds one checkpoint, and says so in the singular.
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains(" entries, 1 signed checkpoint, root "),
        "{}",
        describe(&out)
    );
    let out = p.zion(&[
        "audit",
        "verify",
        "--bundle",
        bundle.to_str().unwrap(),
        "--key",
        key.trim(),
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    // A key that did not sign it is refused.
    let stranger = "zion/else+01234567+AeRkLV2HnfTU5vmR+HF3ghAg5sw3OAbSNBw5aLgFSAEd";
    let out = p.zion(&[
        "audit",
        "verify",
        "--bundle",
        bundle.to_str().unwrap(),
        "--key",
        stranger,
    ]);
    assert_ne!(out.status.code(), Some(0), "{}", describe(&out));
    let file = bundle.join("entries.jsonl");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replacen("\"controller\"", "\"mallory\"", 1)).unwrap();
    let out = p.zion(&["audit", "verify", "--bundle", bundle.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));

    // Tampering straight in the database file, one kind at a time.
    let db = rusqlite::Connection::open(p.data_dir().join("zion.db")).unwrap();
    let get = |i: u64| -> Vec<u8> {
        db.query_row(
            "SELECT entry FROM audit_entries WHERE idx = ?1",
            [i as i64],
            |r| r.get(0),
        )
        .unwrap()
    };
    let set = |i: u64, bytes: &[u8]| {
        db.execute(
            "UPDATE audit_entries SET entry = ?2 WHERE idx = ?1",
            rusqlite::params![i as i64, bytes],
        )
        .unwrap();
    };
    // Altered.
    let (a, b) = (3, 4);
    let original_a = get(a);
    let altered =
        String::from_utf8(original_a.clone())
            .unwrap()
            .replacen("\"actor\":\"", "\"actor\":\"x", 1);
    set(a, altered.as_bytes());
    verify_fails_at(&p, a);
    set(a, &original_a);
    assert!(p.zion(&["audit", "verify"]).status.success());
    // Reordered.
    let original_b = get(b);
    set(a, &original_b);
    set(b, &original_a);
    verify_fails_at(&p, a);
    set(a, &original_a);
    set(b, &original_b);
    assert!(p.zion(&["audit", "verify"]).status.success());
    // Deleted.
    let row = |i: u64| -> (String, String, String, Vec<u8>) {
        db.query_row(
            "SELECT time, action, subject, entry FROM audit_entries WHERE idx = ?1",
            [i as i64],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap()
    };
    let insert = |i: u64, (time, action, subject, entry): &(String, String, String, Vec<u8>)| {
        db.execute(
            "INSERT INTO audit_entries (idx, time, action, subject, entry) VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![i as i64, time, action, subject, entry],
        )
        .unwrap();
    };
    let kept_b = row(b);
    db.execute("DELETE FROM audit_entries WHERE idx = ?1", [b as i64])
        .unwrap();
    verify_fails_at(&p, b);
    insert(b, &kept_b);
    assert!(p.zion(&["audit", "verify"]).status.success());
    // The last entry deleted: the checkpoint names what is missing.
    let size: i64 = db
        .query_row("SELECT COUNT(*) FROM audit_entries", [], |r| r.get(0))
        .unwrap();
    let size = size as u64;
    let last = row(size - 1);
    db.execute(
        "DELETE FROM audit_entries WHERE idx = ?1",
        [(size - 1) as i64],
    )
    .unwrap();
    verify_fails_at(&p, size - 1);
    insert(size - 1, &last);
    assert!(p.zion(&["audit", "verify"]).status.success());

    // An entry forged at the end, with its leaf hash, as someone with write
    // access to the file could: no checkpoint covers it, so it is named,
    // and a restarted server refuses to sign over it.
    let forged = format!(
        r#"{{"action":"token.create","actor":"admin","details":{{"github":null,"role":"admin"}},"seq":{size},"subject":"token/mallory","time":"2026-01-01T00:00:00Z"}}"#
    );
    insert(
        size,
        &(
            "2026-01-01T00:00:00Z".into(),
            "token.create".into(),
            "token/mallory".into(),
            forged.clone().into_bytes(),
        ),
    );
    db.execute(
        "INSERT INTO audit_nodes (level, idx, hash) VALUES (0, ?1, ?2)",
        rusqlite::params![size as i64, &leaf(forged.as_bytes())[..]],
    )
    .unwrap();
    verify_fails_at(&p, size);
    let out = p.zion(&["audit", "verify"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("covered by no signed checkpoint"),
        "{}",
        describe(&out)
    );
    let checkpoints = |db: &rusqlite::Connection| -> i64 {
        db.query_row("SELECT MAX(size) FROM audit_checkpoints", [], |r| r.get(0))
            .unwrap()
    };
    let signed = checkpoints(&db);
    p.stop(nix::sys::signal::Signal::SIGTERM);
    p.start();
    let out = p.zion(&["token", "create", "eve", "--role", "viewer"]);
    assert!(!out.status.success(), "{}", describe(&out));
    verify_fails_at(&p, size);
    assert_eq!(
        checkpoints(&db),
        signed,
        "a checkpoint was signed over the forged entry"
    );
}

fn hex_of(h: &Hash) -> Value {
    Value::String(h.iter().map(|b| format!("{b:02x}")).collect())
}

/// `kill -9` while the controller appends (a canary under analysis writes a
/// transition or a round every second), then a restart: every entry seen
/// before the kill is still there byte for byte, the log verifies, and
/// every checkpoint signed after the restart is consistent with the ones
/// before (`audit verify` checks each against the next).
#[test]
fn kill_nine_mid_append_loses_no_acknowledged_entry() {
    let steps = "        - { weight: 20, pause: 1s }\n        - { weight: 50, pause: 1s }\n        - { weight: 100 }";
    let mut p = Project::new(steps, &[], "20s");
    p.start();
    assert!(
        p.zion(&["deploy", "web", "1.0", "--env", "staging", "--wait"])
            .status
            .success()
    );
    let load = Load::start(p.target);
    let id = p.json(&["deploy", "web", "2.0", "--env", "staging"])["id"]
        .as_i64()
        .unwrap();
    p.wait_for(id, std::time::Duration::from_secs(30), "step 1", |d| {
        d["step"] == 1
    });
    let seen = p.json(&["audit", "log", "--limit", "100000"]);
    let seen = seen.as_array().unwrap().clone();
    assert!(seen.len() >= 5, "{seen:?}");
    p.stop(nix::sys::signal::Signal::SIGKILL);
    drop(load);

    p.start();
    let out = p.zion(&["audit", "verify"]);
    assert!(out.status.success(), "{}\n{}", describe(&out), p.log());
    let after = p.json(&["audit", "log", "--limit", "100000"]);
    let after = after.as_array().unwrap();
    assert!(after.len() >= seen.len());
    for (a, b) in seen.iter().zip(after) {
        assert_eq!(
            a["canonical"], b["canonical"],
            "entry {} changed",
            a["index"]
        );
    }
    // The log goes on growing, signed and consistent, after the restart.
    let out = p.zion(&["abort", &id.to_string()]);
    assert!(out.status.success(), "{}", describe(&out));
    let grown = p.json(&["audit", "log", "--limit", "100000"]);
    assert!(grown.as_array().unwrap().len() > after.len());
    let out = p.zion(&["audit", "verify"]);
    assert!(out.status.success(), "{}", describe(&out));
}
