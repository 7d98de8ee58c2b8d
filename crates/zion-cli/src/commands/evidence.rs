//! The release evidence `zion deploy` attaches: the reports named by
//! `--junit`, `--coverage` and `--sarif`, read into the summary the server's
//! quality gates judge, and the commit the version was built from (given,
//! or read from a git repository with `--git`). Everything here runs before
//! the request is sent, so a bad file never reaches the server.

use std::path::Path;
use std::process::Command;

use jiff::Timestamp;
use zion_core::governance::quality::Evidence;
use zion_evidence::{EvidenceError, parse_coverage, parse_junit, parse_sarif};

use crate::exit::Failure;

/// Reads every report given; None when none is.
pub(super) fn read(
    junit: Option<&Path>,
    coverage: Option<&Path>,
    sarif: Option<&Path>,
) -> Result<Option<Evidence>, Failure> {
    if junit.is_none() && coverage.is_none() && sarif.is_none() {
        return Ok(None);
    }
    let tests = junit
        .map(|p| report("--junit", p, parse_junit))
        .transpose()?;
    let coverage = coverage
        .map(|p| report("--coverage", p, |b| parse_coverage(b).map(|(_, c)| c)))
        .transpose()?;
    let findings = sarif
        .map(|p| report("--sarif", p, parse_sarif))
        .transpose()?;
    Ok(Some(Evidence {
        tests,
        coverage,
        findings,
    }))
}

/// Reads one report file and parses it; both failures exit 2, naming the
/// flag, the file and what is wrong.
fn report<T>(
    flag: &str,
    path: &Path,
    parse: impl FnOnce(&[u8]) -> Result<T, EvidenceError>,
) -> Result<T, Failure> {
    let bytes = std::fs::read(path).map_err(|e| {
        Failure::usage(format!(
            "cannot read {flag} {}: {e}; nothing was sent",
            path.display()
        ))
    })?;
    parse(&bytes).map_err(|e| {
        Failure::usage(format!(
            "{flag} {} cannot be used: {e}; nothing was sent",
            path.display()
        ))
    })
}

/// HEAD's commit hash and commit time in the git repository at `path`.
pub(super) fn from_git(path: &Path) -> Result<(String, Timestamp), Failure> {
    let shown = path.display();
    let out = Command::new("git")
        .arg("-C")
        .arg(path)
        .args(["log", "-1", "--format=%H%x20%cI"])
        .output()
        .map_err(|e| {
            Failure::usage(format!(
                "--git {shown}: cannot run git ({e}); install git, or pass --commit SHA and \
                 --committed-at TIME instead"
            ))
        })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stderr);
        return Err(Failure::usage(format!(
            "--git {shown}: not a git repository with a commit (git says: {}); point --git at \
             the checkout the version was built from, or pass --commit SHA",
            said.trim()
        )));
    }
    parse_head(stdout.trim()).ok_or_else(|| {
        Failure::usage(format!(
            "--git {shown}: git printed `{}`, not a commit hash and time",
            stdout.trim()
        ))
    })
}

/// `<hash> <strict ISO 8601 time>`, as `--format=%H%x20%cI` prints it.
fn parse_head(line: &str) -> Option<(String, Timestamp)> {
    let (sha, at) = line.split_once(' ')?;
    let hex = !sha.is_empty() && sha.chars().all(|c| c.is_ascii_hexdigit());
    let at: Timestamp = at.trim().parse().ok()?;
    hex.then(|| (sha.to_string(), at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_head_lines_are_read_with_their_offset() {
        let (sha, at) =
            parse_head("9fceb02d0ae598e95dc970b74767f19372d61af8 2026-03-01T10:15:30+01:00")
                .unwrap();
        assert_eq!(sha, "9fceb02d0ae598e95dc970b74767f19372d61af8");
        assert_eq!(at.to_string(), "2026-03-01T09:15:30Z");
        assert_eq!(parse_head("9fceb02"), None);
        assert_eq!(parse_head("zzz 2026-03-01T10:15:30Z"), None);
        assert_eq!(parse_head("9fceb02 yesterday"), None);
    }

    #[test]
    fn no_flag_means_no_evidence_and_a_missing_file_is_a_usage_error() {
        assert_eq!(read(None, None, None).unwrap(), None);
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("junit.xml");
        let err = read(Some(&missing), None, None).unwrap_err();
        assert_eq!(err.code, 2);
        assert!(
            err.message.starts_with("cannot read --junit "),
            "{}",
            err.message
        );
        assert!(err.message.contains("junit.xml"), "{}", err.message);
    }
}
