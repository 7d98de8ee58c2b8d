//! Where a version's artifact is: `workload.process.artifact` with
//! `{version}` replaced. The path may point anywhere the spec's author
//! chose, but the version must not move it: the rendered path has to stay
//! inside the folder written before the first `{version}` (`dist/` for
//! `dist/{version}/api.tar.gz`). Paths are resolved lexically, as written:
//! symbolic links the author put there are the author's choice.

use std::path::{Component, Path, PathBuf};

use crate::text::excerpt;

const PLACEHOLDER: &str = "{version}";

/// The artifact path of `version` (relative paths stay relative: the
/// caller joins them to the spec's folder), or why it is refused.
pub fn artifact_path(pattern: &str, version: &str) -> Result<PathBuf, String> {
    let rendered = PathBuf::from(pattern.replace(PLACEHOLDER, version));
    match escape(pattern, version) {
        None => Ok(rendered),
        Some(folder) => Err(format!(
            "artifact `{pattern}` for version `{}` resolves outside {}: refused, an artifact \
             must stay in the folder it is declared under",
            excerpt(version),
            folder_text(&folder)
        )),
    }
}

/// Lint's check of the pattern itself: `..` after `{version}` that climbs
/// out of the declared folder whatever the version.
pub(super) fn pattern_escapes(pattern: &str) -> Option<String> {
    let folder = escape(pattern, "1.0.0")?;
    Some(format!(
        "`{pattern}` climbs out of {} after `{{version}}`: keep the artifact inside the folder \
         written before `{{version}}`",
        folder_text(&folder)
    ))
}

/// The declared folder when the rendered path leaves it (or names it
/// rather than a file in it); None when the path stays inside.
fn escape(pattern: &str, version: &str) -> Option<PathBuf> {
    let components: Vec<Component<'_>> = Path::new(pattern).components().collect();
    let first = components
        .iter()
        .position(|c| c.as_os_str().to_string_lossy().contains(PLACEHOLDER))?;
    let folder: PathBuf = components[..first].iter().collect();
    let rest: PathBuf = components[first..].iter().collect();
    let rendered = rest.to_string_lossy().replace(PLACEHOLDER, version);
    let mut depth: i64 = 0;
    for c in Path::new(&rendered).components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return Some(folder);
                }
            }
            Component::RootDir | Component::Prefix(_) => return Some(folder),
        }
    }
    (depth < 1).then_some(folder)
}

fn folder_text(folder: &Path) -> String {
    if folder.as_os_str().is_empty() {
        "the spec's folder".to_owned()
    } else {
        format!("`{}/`", folder.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_fills_the_placeholder() {
        assert_eq!(
            artifact_path("dist/{version}/api.tar.gz", "1.4.2").unwrap(),
            PathBuf::from("dist/1.4.2/api.tar.gz")
        );
        assert_eq!(
            artifact_path("/srv/web-{version}.tar.gz", "2").unwrap(),
            PathBuf::from("/srv/web-2.tar.gz")
        );
        // The author may point outside the spec's folder on purpose.
        assert_eq!(
            artifact_path("../shared/{version}.tar.gz", "2").unwrap(),
            PathBuf::from("../shared/2.tar.gz")
        );
        assert_eq!(
            artifact_path("dist/api.tar.gz", "..").unwrap(),
            PathBuf::from("dist/api.tar.gz")
        );
        // Dots inside a name are not a folder.
        assert!(artifact_path("dist/v{version}/a", "..").is_ok());
    }

    #[test]
    fn a_version_cannot_leave_the_declared_folder() {
        let e = artifact_path("dist/{version}/api.tar.gz", "..").unwrap_err();
        assert!(e.contains("resolves outside `dist/`"), "{e}");
        for (pattern, version) in [
            ("dist/{version}", "."),
            ("dist/{version}", ".."),
            ("{version}/a", "../.."),
            ("dist/{version}/a", "x/../../../etc/passwd"),
            ("dist/{version}", "/etc/passwd"),
            ("dist/{version}/{version}/a", ".."),
        ] {
            assert!(
                artifact_path(pattern, version).is_err(),
                "{pattern} with {version}"
            );
        }
        let e = artifact_path("{version}.tar.gz", "../x").unwrap_err();
        assert!(e.contains("the spec's folder"), "{e}");
    }

    #[test]
    fn lint_refuses_a_pattern_that_climbs_out() {
        let e = pattern_escapes("dist/{version}/../../etc/passwd").unwrap();
        assert!(e.contains("climbs out of `dist/`"), "{e}");
        assert_eq!(pattern_escapes("dist/{version}/../api.tar.gz"), None);
        assert_eq!(pattern_escapes("dist/{version}/api.tar.gz"), None);
        assert_eq!(pattern_escapes("../dist/api.tar.gz"), None);
    }

    #[test]
    fn lint_names_the_artifact_key() {
        let spec = |artifact: &str| {
            format!(
                "environments: [{{ name: staging }}]\nservices:\n  - name: web\n    \
                 workload: {{ process: {{ command: [./app], artifact: \"{artifact}\" }} }}\n    \
                 targets: {{ staging: {{ listen: 127.0.0.1:8081 }} }}\n"
            )
        };
        let errors = crate::spec::parse_spec(&spec("dist/{version}/../../../x")).unwrap_err();
        assert_eq!(errors.0.len(), 1, "{errors}");
        assert_eq!(errors.0[0].path, "services[0].workload.process.artifact");
        assert!(
            errors.0[0].message.contains("climbs out of `dist/`"),
            "{errors}"
        );
        assert!(crate::spec::parse_spec(&spec("dist/{version}/api.tar.gz")).is_ok());
    }
}
