//! Headless Chromium driven through ChromeDriver (Debian's `chromium` and
//! `chromium-driver`, which `scripts/test.sh` installs), for the web
//! console's tests: a real browser running the console's script against a
//! real `zion up`.
//!
//! The W3C WebDriver protocol is JSON over HTTP, and these tests use a
//! handful of its commands, so they are spoken here with the reqwest the
//! workspace already has: the WebDriver client crates bring a second `http`,
//! `cookie` and an ICU segmenter for the same few requests.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

use crate::support::free_addr;

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Flags for a quiet, offline, throwaway headless browser that runs as
/// root: without the background-networking ones Chromium keeps dialling
/// Google's hosts, which a closed network refuses.
const FLAGS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
];

/// The keys WebDriver spells as private-use characters.
pub const TAB: &str = "\u{E004}";

/// One browser session: ChromeDriver as a child process in its own process
/// group (Chromium's processes go with it), and a fresh profile.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    client: reqwest::Client,
    rt: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
}

/// An element of the page, as WebDriver names it.
#[derive(Clone, Debug)]
pub struct Element(Value);

impl Browser {
    /// Fails (never skips) when Chromium or ChromeDriver is missing: CI runs
    /// `scripts/test.sh`, which installs them.
    pub fn start(width: u32, height: u32) -> Browser {
        for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            assert!(
                Path::new(path).is_file(),
                "{path} is missing: run scripts/test.sh, which installs Debian's `{package}` \
                 package (or apt-get install {package})"
            );
        }
        let dir = tempfile::tempdir().expect("a temporary directory");
        let port = free_addr().port();
        let log = std::fs::File::create(dir.path().join("chromedriver.log")).expect("log file");
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::from(log.try_clone().expect("log file")))
            .stderr(Stdio::from(log))
            .process_group(0)
            .spawn()
            .expect("chromedriver starts");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let mut b = Browser {
            driver,
            base: format!("http://127.0.0.1:{port}"),
            session: String::new(),
            client: reqwest::Client::new(),
            rt,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while b.call("GET", "/status", None).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not answer in 20 s; its log:\n{}",
                b.driver_log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = b.dir.path().join("profile");
        let mut args: Vec<String> = FLAGS.iter().map(|f| f.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        args.push(format!("--window-size={width},{height}"));
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
        }}});
        let v = b
            .call("POST", "/session", Some(caps))
            .unwrap_or_else(|e| panic!("no browser session: {e}\n{}", b.driver_log()));
        b.session = v["sessionId"].as_str().expect("a session id").to_string();
        b
    }

    fn driver_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("chromedriver.log")).unwrap_or_default()
    }

    /// One WebDriver command; its `value`, or the error WebDriver named.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let req = self
            .client
            .request(method, url)
            .timeout(Duration::from_secs(30));
        let req = match body {
            Some(b) => req.json(&b),
            None => req,
        };
        self.rt.block_on(async {
            let resp = req.send().await.map_err(|e| e.to_string())?;
            let ok = resp.status().is_success();
            let v: Value = resp.json().await.map_err(|e| e.to_string())?;
            let value = v.get("value").cloned().unwrap_or(Value::Null);
            if ok {
                Ok(value)
            } else {
                Err(format!("{}: {}", value["error"], value["message"]))
            }
        })
    }

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        self.call(method, &path, body)
            .unwrap_or_else(|e| panic!("WebDriver {path}: {e}"))
    }

    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })));
    }

    pub fn url(&self) -> String {
        self.cmd("GET", "/url", None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The first element matching a CSS selector, if any.
    pub fn find(&self, css: &str) -> Option<Element> {
        let path = format!("/session/{}/element", self.session);
        self.call(
            "POST",
            &path,
            Some(json!({"using": "css selector", "value": css})),
        )
        .ok()
        .map(Element)
    }

    /// Every element matching a CSS selector.
    pub fn find_all(&self, css: &str) -> Vec<Element> {
        let v = self.cmd(
            "POST",
            "/elements",
            Some(json!({"using": "css selector", "value": css})),
        );
        v.as_array()
            .map(|a| a.iter().cloned().map(Element).collect())
            .unwrap_or_default()
    }

    /// Waits up to `limit` for an element matching `css`.
    pub fn wait(&self, css: &str, limit: Duration) -> Element {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(e) = self.find(css) {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "no element `{css}` after {limit:?} on {}; the page:\n{}",
                self.url(),
                self.source_excerpt()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits up to `limit` until `f` returns Some.
    pub fn until<T>(
        &self,
        limit: Duration,
        what: &str,
        mut f: impl FnMut(&Browser) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(v) = f(self) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not after {limit:?} on {}; the page:\n{}",
                self.url(),
                self.source_excerpt()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn source_excerpt(&self) -> String {
        let s = self.cmd("GET", "/source", None);
        let s = s.as_str().unwrap_or_default();
        s.chars().take(4000).collect()
    }

    pub fn click(&self, e: &Element) {
        self.cmd(
            "POST",
            &format!("/element/{}/click", e.id()),
            Some(json!({})),
        );
    }

    pub fn type_into(&self, e: &Element, text: &str) {
        self.cmd(
            "POST",
            &format!("/element/{}/value", e.id()),
            Some(json!({ "text": text })),
        );
    }

    pub fn text(&self, e: &Element) -> String {
        self.cmd("GET", &format!("/element/{}/text", e.id()), None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page.
    pub fn exec(&self, script: &str, args: Vec<Value>) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
    }

    /// Presses keys on whatever has the focus.
    pub fn press(&self, keys: &str) {
        let actions: Vec<Value> = keys
            .chars()
            .flat_map(|c| {
                let k = c.to_string();
                [
                    json!({"type": "keyDown", "value": k}),
                    json!({"type": "keyUp", "value": k}),
                ]
            })
            .collect();
        self.cmd(
            "POST",
            "/actions",
            Some(json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})),
        );
    }

    pub fn resize(&self, width: u32, height: u32) {
        self.cmd(
            "POST",
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        );
    }

    /// A PNG of the viewport, written under the test's directory (and into
    /// `ZION_CONSOLE_ARTIFACTS` when set, for a person to look at).
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let b64 = self.cmd("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().expect("base64 PNG"))
            .expect("a PNG");
        assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
        let path = self.dir.path().join(format!("{name}.png"));
        std::fs::write(&path, &png).expect("screenshot written");
        if let Some(dir) = std::env::var_os("ZION_CONSOLE_ARTIFACTS") {
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::copy(&path, Path::new(&dir).join(format!("{name}.png")));
        }
        path
    }
}

impl Element {
    fn id(&self) -> &str {
        // The W3C element reference key.
        self.0["element-6066-11e4-a52e-4f735466cecf"]
            .as_str()
            .unwrap_or_else(|| panic!("not an element reference: {}", self.0))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let path = format!("/session/{}", self.session);
            let _ = self.call("DELETE", &path, None);
        }
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(self.driver.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = self.driver.wait();
    }
}
