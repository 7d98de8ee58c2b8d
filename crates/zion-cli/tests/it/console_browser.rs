//! The web console in a real headless Chromium against a real `zion up`.

use std::time::Duration;

use crate::webdriver::{Browser, TAB};

#[test]
fn harness_smoke() {
    let b = Browser::start(1280, 900);
    b.goto("data:text/html,<button id=a>A</button><a href=%23 id=b>B</a><input id=c aria-label=C>");
    b.wait("#a", Duration::from_secs(5));
    b.press(TAB);
    let v = b.exec("return document.activeElement.id", vec![]);
    assert_eq!(v, "a");
    b.press(TAB);
    assert_eq!(b.exec("return document.activeElement.id", vec![]), "b");
    b.resize(375, 800);
    let w = b.exec("return window.innerWidth", vec![]);
    eprintln!("width {w}");
    b.screenshot("smoke");
    let e = b.find("#c").unwrap();
    b.type_into(&e, "hi");
    assert_eq!(b.exec("return arguments[0].value", vec![e.arg()]), "hi");
}
