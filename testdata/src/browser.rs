//! A real headless Chromium driven through WebDriver, for the console's
//! browser tests (`server/tests/it/console.rs`) and its bench
//! (`benches/benches/console.rs`): Debian's `chromium` and `chromedriver`
//! (`scripts/setup.sh` installs both), started here on loopback and
//! stopped when the [`Browser`] is dropped.
//!
//! Chromium runs with the flags a closed machine needs: no sandbox (tests
//! may run as root in a container), no background networking, component
//! updates or sync (each would try to reach Google's hosts), a fresh
//! profile in a temporary directory, and downloads saved without asking
//! into [`Browser::downloads`].

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use serde_json::{json, Value};

/// A chromedriver process and a browser session in it.
pub struct Browser {
    /// The WebDriver session.
    pub client: Client,
    driver: Child,
    profile: PathBuf,
    downloads: PathBuf,
}

/// Where a program is: `$name` from the environment (e.g. `CHROMIUM`), else
/// the first of `candidates` that exists.
fn program(var: &str, candidates: &[&str]) -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os(var) {
        return Ok(PathBuf::from(p));
    }
    candidates.iter().map(PathBuf::from).find(|p| p.exists()).ok_or_else(|| {
        format!("none of {candidates:?} exists (set {var}); scripts/setup.sh installs Debian's chromium and chromium-driver")
    })
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session whose window is
    /// `width`×`height` CSS pixels, saving downloads under `dir/downloads`
    /// (its profile goes to `dir/profile`).
    pub async fn start(dir: &Path, width: u32, height: u32) -> Result<Browser, String> {
        let chromium = program("CHROMIUM", &["/usr/bin/chromium", "/usr/bin/chromium-browser"])?;
        let chromedriver = program("CHROMEDRIVER", &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"])?;
        let (profile, downloads) = (dir.join("profile"), dir.join("downloads"));
        std::fs::create_dir_all(&downloads).map_err(|e| e.to_string())?;
        let port = free_port().map_err(|e| e.to_string())?;
        let mut driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{}: {e}", chromedriver.display()))?;
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-quic", "--disable-extensions",
                    format!("--user-data-dir={}", profile.display()),
                    format!("--window-size={width},{height}"),
                ],
                "prefs": {
                    "download.default_directory": downloads,
                    "download.prompt_for_download": false,
                    "safebrowsing.enabled": false,
                },
            },
        });
        let caps = match caps {
            Value::Object(m) => m,
            _ => unreachable!("a JSON object literal"),
        };
        // chromedriver takes a moment to listen.
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector).capabilities(caps.clone()).connect(&format!("http://127.0.0.1:{port}")).await {
                Ok(c) => break c,
                Err(e) if Instant::now() > deadline => {
                    let _ = driver.kill();
                    return Err(format!("no WebDriver session: {e}"));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        Ok(Browser { client, driver, profile, downloads })
    }

    /// Where downloads are saved.
    pub fn downloads(&self) -> &Path {
        &self.downloads
    }

    /// Runs `script` (a function body; `return` gives the value) until it
    /// returns something other than `null` or `false`, at most `timeout`;
    /// returns that value.
    pub async fn wait_for(&self, what: &str, timeout: Duration, script: &str) -> Result<Value, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.client.execute(script, vec![]).await.map_err(|e| format!("{what}: {e}"))?;
            if !(v.is_null() || v == Value::Bool(false)) {
                return Ok(v);
            }
            if Instant::now() > deadline {
                return Err(format!("timed out waiting for {what}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Ends the session and stops chromedriver (and with it Chromium).
    pub async fn stop(mut self) {
        let client = self.client.clone();
        let _ = client.close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser").field("driver", &self.driver.id()).field("downloads", &self.downloads).finish()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A test that failed half-way must not leave chromedriver running.
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
