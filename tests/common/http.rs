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
