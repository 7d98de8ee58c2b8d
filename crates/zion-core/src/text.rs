//! Text from untrusted input, made fit to repeat in a message.

/// How much of an offending input a message repeats: enough to recognise
/// it, never enough to flood a terminal or a log.
pub const ECHO_CHARS: usize = 40;

/// The start of an untrusted text for a message, marked when cut; control
/// characters are escaped so that it cannot break a line or steer a
/// terminal.
pub fn excerpt(text: &str) -> String {
    let mut chars = text.chars();
    let head: String = chars
        .by_ref()
        .take(ECHO_CHARS)
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_and_marked() {
        assert_eq!(excerpt("1.4.2"), "1.4.2");
        let long = "x".repeat(10_000);
        assert_eq!(excerpt(&long), format!("{}…", "x".repeat(40)));
        assert_eq!(excerpt(&"é".repeat(41)), format!("{}…", "é".repeat(40)));
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(excerpt("a\nb\u{1b}[2J"), "a\\nb\\u{1b}[2J");
    }
}
