//! A plain HTTP client for the agent's monitoring server, as a scraper or `curl` would use it.

use std::time::Duration;

/// One answer: status, `Content-Type`, body.
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

fn client() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .http_status_as_error(false)
        .build()
        .into()
}

/// `METHOD url`; `None` when nothing answers (connection refused, timeout).
pub fn request(method: &str, url: &str, accept: Option<&str>) -> Option<Answer> {
    let req = ureq::http::Request::builder().method(method).uri(url);
    let req = match accept {
        Some(a) => req.header("Accept", a),
        None => req,
    };
    let req = req.body(()).ok()?;
    let mut response = client().run(req).ok()?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    Some(Answer {
        status,
        content_type,
        body,
    })
}

pub fn get(url: &str) -> Option<Answer> {
    request("GET", url, None)
}

/// `/metrics` as Flume's JSON.
pub fn metrics_json(port: u16) -> Option<serde_json::Value> {
    let a = get(&format!("http://127.0.0.1:{port}/metrics"))?;
    serde_json::from_str(&a.body).ok()
}

/// A one-document HTTP server on loopback for `--conf-uri http://…`: every GET (any path) is
/// answered with the current text, which the test may replace at any time, as a configuration
/// server behind a fleet's agents would change what it serves. Stops on drop.
pub struct ConfServer {
    port: u16,
    text: std::sync::Arc<std::sync::Mutex<String>>,
    served: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ConfServer {
    pub fn start(text: &str) -> ConfServer {
        use std::io::{Read, Write};
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("local address").port();
        let shared = std::sync::Arc::new(std::sync::Mutex::new(text.to_string()));
        let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (t, n, s) = (shared.clone(), served.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(mut conn) = conn else { continue };
                let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                let mut req = Vec::new();
                let mut buf = [0u8; 4096];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(k) => req.extend_from_slice(&buf[..k]),
                    }
                }
                let body = t.lock().unwrap_or_else(|e| e.into_inner()).clone();
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                if conn.write_all(reply.as_bytes()).is_ok() {
                    n.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        ConfServer {
            port,
            text: shared,
            served,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT/flume.conf`.
    pub fn uri(&self) -> String {
        format!("http://127.0.0.1:{}/flume.conf", self.port)
    }

    /// What the next request gets.
    pub fn serve(&self, text: &str) {
        *self.text.lock().unwrap_or_else(|e| e.into_inner()) = text.to_string();
    }

    /// Requests answered so far.
    pub fn served(&self) -> usize {
        self.served.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for ConfServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wakes the blocking accept so that the thread sees the flag.
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
