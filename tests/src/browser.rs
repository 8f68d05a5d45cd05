//! A real headless Chromium driven over WebDriver: `chromedriver` started on a free port, a fresh
//! profile directory, and a fantoccini session.
//! Screenshots go to `target/screenshots/<name>.png`.

use crate::free_port;
use fantoccini::{Client, ClientBuilder};
use serde_json::{json, Map};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long chromedriver may take to answer its first request on a busy machine.
const DRIVER_START: Duration = Duration::from_secs(60);

/// A browser session; chromedriver and Chromium are killed when dropped.
pub struct Browser {
    pub client: Client,
    driver: Child,
    profile: PathBuf,
}

impl Browser {
    /// Starts chromedriver (`$CHROMEDRIVER`, else `chromedriver`) and a headless Chromium
    /// (`$CHROMIUM`, else `/usr/bin/chromium`) with the flags it needs as root on a closed network.
    pub async fn start() -> Browser {
        let port = free_port();
        let driver_binary = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let driver = Command::new(&driver_binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {driver_binary} (`make setup` installs chromium-driver): {e}")
            });
        let root =
            PathBuf::from(std::env::var("SFSYNC_TMP").unwrap_or_else(|_| "/var/tmp/sfsync".into()));
        let profile = root.join(format!(
            "chromium-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&profile).expect("chromium profile directory");
        let binary = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let mut capabilities = Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": binary,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,1400",
                    format!("--user-data-dir={}", profile.display()),
                ]
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + DRIVER_START;
        let client = loop {
            let mut builder =
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
            builder.capabilities(capabilities.clone());
            match builder.connect(&url).await {
                Ok(client) => break client,
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(error) => panic!("no WebDriver session from {driver_binary} at {url}: {error}"),
            }
        };
        Browser {
            client,
            driver,
            profile,
        }
    }

    /// Opens `url` and waits for the document.
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// The page's HTML source.
    pub async fn source(&self) -> String {
        self.client.source().await.expect("page source")
    }

    /// The element matching a CSS selector (panics with the page when there is none).
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        match self.client.find(fantoccini::Locator::Css(css)).await {
            Ok(element) => element,
            Err(error) => panic!("no {css} on the page ({error}):\n{}", self.source().await),
        }
    }

    /// Waits (up to `timeout`) for an element matching `css`: a click that submits a form returns
    /// before the next page is there.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> fantoccini::elements::Element {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(element) = self.client.find(fantoccini::Locator::Css(css)).await {
                return element;
            }
            if Instant::now() > deadline {
                panic!("no {css} within {timeout:?}:\n{}", self.source().await);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until the text of `css` satisfies `check`; returns it.
    pub async fn wait_text(
        &self,
        css: &str,
        timeout: Duration,
        check: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(element) = self.client.find(fantoccini::Locator::Css(css)).await {
                if let Ok(text) = element.text().await {
                    if check(&text) {
                        return text;
                    }
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "{css} never had the expected text within {timeout:?}:\n{}",
                    self.source().await
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until the address ends with `suffix`.
    pub async fn wait_url(&self, suffix: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let url = self.url().await;
            if url.ends_with(suffix) {
                return;
            }
            if Instant::now() > deadline {
                panic!("the address stayed {url}, never …{suffix}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Clicks the element matching a CSS selector.
    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// The visible text of the element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("element text")
    }

    /// The current address.
    pub async fn url(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("current url")
            .to_string()
    }

    /// Reopens `url` until its source satisfies `check`, for up to `timeout`.
    pub async fn until_page(
        &self,
        url: &str,
        timeout: Duration,
        what: &str,
        check: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            self.goto(url).await;
            let source = self.source().await;
            if check(&source) {
                return source;
            }
            if Instant::now() > deadline {
                panic!("{what}: not seen on {url} within {timeout:?}; last page:\n{source}");
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Saves a PNG of the window as `target/screenshots/<name>.png`; returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        let target = std::env::var("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
        let dir = target.join("screenshots");
        std::fs::create_dir_all(&dir).expect("screenshots directory");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// Ends the WebDriver session (Chromium quits); chromedriver stops on drop.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Chromium quits with the session (`close`); chromedriver is ours to stop
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// A cookie header value from a `Set-Cookie` (`name=value`), for plain HTTP requests.
pub fn cookie_pair(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string()
}
