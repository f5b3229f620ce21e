//! A real browser for the tests of Tessera's pages: Debian's `chromium`, headless,
//! driven through `chromedriver` with the W3C WebDriver protocol over loopback HTTP.
//! Without the two programs a browser test says so loudly and passes, unless
//! `TESSERA_TEST_BROWSER=1` (set by `.ci/run`), where it fails.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// W3C WebDriver's key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A headless Chromium session; the driver is stopped on drop.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    agent: ureq::Agent,
}

impl Browser {
    /// A new session, or `None` (with a loud message) when Chromium or its driver is
    /// not installed and `TESSERA_TEST_BROWSER` is not set.
    pub fn start() -> Option<Self> {
        let installed =
            std::path::Path::new(CHROMIUM).exists() && std::path::Path::new(CHROMEDRIVER).exists();
        if !installed {
            let required = std::env::var("TESSERA_TEST_BROWSER").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "TESSERA_TEST_BROWSER=1 but {CHROMIUM} or {CHROMEDRIVER} is missing"
            );
            eprintln!(
                "\n*** real-browser test SKIPPED: install Debian's chromium and chromium-driver \
                 (`.ci/run` does) to run it ***\n"
            );
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let base = format!("http://127.0.0.1:{port}");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        let deadline = Instant::now() + Duration::from_secs(20);
        while agent.get(format!("{base}/status")).call().is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not come up");
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut browser = Self {
            driver,
            base,
            session: String::new(),
            agent,
        };
        let created = browser.command(
            "POST",
            "/session",
            json!({ "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": CHROMIUM,
                    "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                             "--disable-dev-shm-usage", "--no-first-run"]
                }
            }}}),
        );
        browser.session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_owned();
        Some(browser)
    }

    fn command(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.base);
        let mut response = match method {
            "GET" => self.agent.get(&url).call(),
            "DELETE" => self.agent.delete(&url).call(),
            _ => self.agent.post(&url).send_json(&body),
        }
        .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
        let status = response.status();
        let value: Value = response.body_mut().read_json().unwrap_or(Value::Null);
        assert!(
            status.is_success(),
            "WebDriver {method} {path}: {status} {value}"
        );
        value.get("value").cloned().unwrap_or(value)
    }

    fn session_path(&self, path: &str) -> String {
        format!("/session/{}{path}", self.session)
    }

    pub fn goto(&self, url: &str) {
        self.command("POST", &self.session_path("/url"), json!({ "url": url }));
    }

    pub fn url(&self) -> String {
        self.command("GET", &self.session_path("/url"), Value::Null)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The page's source as the browser holds it.
    pub fn source(&self) -> String {
        self.command("GET", &self.session_path("/source"), Value::Null)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The page's source once it contains `text` (a navigation may still be under way
    /// when a click returns); panics after 10 s with the page as it is.
    pub fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let source = self.source();
            if source.contains(text) {
                return source;
            }
            assert!(
                Instant::now() < deadline,
                "no {text:?} in the page:\n{source}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The first element matching a CSS selector.
    pub fn find(&self, css: &str) -> String {
        let found = self.command(
            "POST",
            &self.session_path("/element"),
            json!({ "using": "css selector", "value": css }),
        );
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_owned()
    }

    /// Types `text` into the element `css` selects.
    pub fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css);
        self.command(
            "POST",
            &self.session_path(&format!("/element/{element}/value")),
            json!({ "text": text }),
        );
    }

    /// Adds a virtual authenticator to the session (W3C WebAuthn Level 2 §11.3): a
    /// platform CTAP2 authenticator with resident keys and user verification that
    /// always succeeds.
    pub fn add_virtual_authenticator(&self) -> String {
        let added = self.command(
            "POST",
            &self.session_path("/webauthn/authenticator"),
            json!({
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": true,
                "hasUserVerification": true,
                "isUserConsenting": true,
                "isUserVerified": true,
            }),
        );
        added.as_str().unwrap_or_default().to_owned()
    }

    /// The credentials a virtual authenticator holds.
    pub fn virtual_credentials(&self, authenticator: &str) -> Vec<Value> {
        self.command(
            "GET",
            &self.session_path(&format!(
                "/webauthn/authenticator/{authenticator}/credentials"
            )),
            Value::Null,
        )
        .as_array()
        .cloned()
        .unwrap_or_default()
    }

    pub fn click(&self, css: &str) {
        let element = self.find(css);
        self.command(
            "POST",
            &self.session_path(&format!("/element/{element}/click")),
            json!({}),
        );
    }
}

impl Browser {
    /// Resizes the window (CSS pixels of the viewport's outer window).
    pub fn set_window_size(&self, width: u32, height: u32) {
        self.command(
            "POST",
            &self.session_path("/window/rect"),
            json!({ "width": width, "height": height }),
        );
    }

    /// Saves a PNG of the viewport to `path` (its folder created).
    pub fn screenshot(&self, path: &std::path::Path) {
        use base64::Engine;
        let png = self.command("GET", &self.session_path("/screenshot"), Value::Null);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap_or_default())
            .expect("a base64 PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, bytes).unwrap();
    }

    /// Runs a script in the page and returns its value (the tests' own probes only).
    pub fn execute(&self, script: &str) -> Value {
        self.command(
            "POST",
            &self.session_path("/execute/sync"),
            json!({ "script": script, "args": [] }),
        )
    }

    /// Presses Tab once, as a keyboard user moves to the next control.
    pub fn press_tab(&self) {
        self.command(
            "POST",
            &self.session_path("/actions"),
            json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": [
                { "type": "keyDown", "value": "\u{E004}" },
                { "type": "keyUp", "value": "\u{E004}" }
            ]}]}),
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let url = format!("{}/session/{}", self.base, self.session);
            let _ = self.agent.delete(&url).call();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
