//! Version strings: what `zion deploy SERVICE VERSION` accepts.
//!
//! A version is substituted into the workload's command (`{version}`) and
//! its artifact path, so it must not be able to say more than a version: no
//! path separators, no `.` or `..` (which name folders, not files), and no
//! leading `-` (which a program reads as an option).

use crate::text::excerpt;

/// The longest version accepted, in bytes (every allowed character is ASCII).
pub const MAX_VERSION_LEN: usize = 128;

/// Checks a version; the error says what is wrong and how to fix it, and
/// repeats at most the first few characters of the version.
pub fn check_version(v: &str) -> Result<(), String> {
    if v.is_empty() {
        return Err("the version is empty: give one, e.g. 1.4.2".to_owned());
    }
    let shown = excerpt(v);
    if let Some(c) = v
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+')))
    {
        return Err(format!(
            "version `{shown}` contains {}: use only letters, digits, '.', '-', '_' and '+', \
             e.g. 1.4.2",
            char_text(c)
        ));
    }
    if v.len() > MAX_VERSION_LEN {
        return Err(format!(
            "version `{shown}` is {} characters long: use at most {MAX_VERSION_LEN}",
            v.len()
        ));
    }
    if !v.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(format!(
            "version `{shown}` starts with '{}': start it with a letter or a digit, e.g. 1.4.2 \
             (a version must not read as a folder such as `..` or as an option such as `-x`)",
            &v[..1]
        ));
    }
    Ok(())
}

fn char_text(c: char) -> String {
    if c.is_control() || c.is_whitespace() {
        format!("{:?} (U+{:04X})", c, u32::from(c))
    } else {
        format!("'{c}'")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_versions_pass() {
        for v in [
            "1",
            "1.4.2",
            "v2.0.0-rc.1+build.7",
            "2026_03_01",
            "a..b",
            "1.0.",
        ] {
            assert_eq!(check_version(v), Ok(()), "{v}");
        }
        assert_eq!(check_version(&"9".repeat(MAX_VERSION_LEN)), Ok(()));
    }

    #[test]
    fn folder_names_and_options_are_refused() {
        for v in [".", "..", "...", ".hidden", "-rf", "--help", "_x", "+1"] {
            let e = check_version(v).unwrap_err();
            assert!(e.contains("start it with a letter or a digit"), "{v}: {e}");
        }
    }

    #[test]
    fn other_characters_are_refused_by_name() {
        let e = check_version("1.0/../../etc").unwrap_err();
        assert!(e.contains("contains '/'"), "{e}");
        let e = check_version("bad version!").unwrap_err();
        assert!(e.contains("' ' (U+0020)"), "{e}");
        let e = check_version("1\n2").unwrap_err();
        assert!(e.contains("U+000A"), "{e}");
        assert!(check_version("").unwrap_err().contains("empty"));
    }

    #[test]
    fn a_huge_version_is_not_repeated_whole() {
        let v = "7".repeat(10 * 1024);
        let e = check_version(&v).unwrap_err();
        assert!(e.contains("10240 characters long"), "{e}");
        assert!(e.len() < 200, "{} bytes: {e}", e.len());
        let e = check_version(&format!("{}!", "é".repeat(5000))).unwrap_err();
        assert!(e.contains("contains 'é'") && e.len() < 300, "{e}");
        let e = check_version("1\u{1b}[2J").unwrap_err();
        assert!(!e.contains('\u{1b}') && e.contains("\\u{1b}"), "{e}");
    }
}
