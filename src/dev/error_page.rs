//! The error responses `dev` serves: a worker exception becomes a 500 page
//! with the Python traceback (JSON when the client asks for JSON), a limit
//! becomes a 503, and a broken build serves its error until fixed.

use serde_json::json;

/// What went wrong, for the page and the terminal.
#[derive(Debug, Clone)]
pub struct ErrorInfo {
    /// HTTP status to answer with.
    pub status: u16,
    /// One-line headline (`ValueError: bad input`).
    pub title: String,
    /// Python exception type, if the error came from Python.
    pub r#type: String,
    /// The message.
    pub message: String,
    /// The traceback or longer detail.
    pub detail: String,
}

/// Whether the `Accept` header prefers JSON over HTML.
pub fn wants_json(accept: Option<&str>) -> bool {
    let Some(accept) = accept else { return false };
    let json = accept
        .find("application/json")
        .or_else(|| accept.find("+json"));
    let html = accept.find("text/html");
    match (json, html) {
        (Some(j), Some(h)) => j < h,
        (Some(_), None) => true,
        _ => false,
    }
}

/// Render the page body and its content type.
pub fn render(info: &ErrorInfo, json: bool) -> (Vec<u8>, &'static str) {
    if json {
        let body = json!({
            "error": {
                "type": info.r#type,
                "message": info.message,
                "traceback": info.detail,
            }
        });
        return (body.to_string().into_bytes(), "application/json");
    }
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
<style>body{{font-family:system-ui,sans-serif;margin:2rem;color:#1f2937}}h1{{font-size:1.3rem;color:#b91c1c}}\
pre{{background:#f3f4f6;padding:1rem;overflow:auto;border-radius:6px;font-size:.85rem}}\
footer{{color:#6b7280;font-size:.8rem}}</style></head>\n<body><h1>{title}</h1>\n<pre>{detail}</pre>\n\
<footer>pywrangler-rs dev &middot; HTTP {status}</footer></body></html>\n",
        title = escape(&info.title),
        detail = escape(&info.detail),
        status = info.status,
    );
    (html.into_bytes(), "text/html; charset=utf-8")
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> ErrorInfo {
        ErrorInfo {
            status: 500,
            title: "ValueError: <bad>".into(),
            r#type: "ValueError".into(),
            message: "<bad>".into(),
            detail: "Traceback (most recent call last):\n  File \"/app/src/entry.py\"\nValueError: <bad>".into(),
        }
    }

    #[test]
    fn html_escapes_and_shows_traceback() {
        let (body, ct) = render(&info(), false);
        let body = String::from_utf8(body).expect("utf8");
        assert!(ct.starts_with("text/html"));
        assert!(body.contains("ValueError: &lt;bad&gt;"));
        assert!(body.contains("Traceback (most recent call last):"));
        assert!(!body.contains("<bad>"));
    }

    #[test]
    fn json_when_accepted() {
        assert!(wants_json(Some("application/json")));
        assert!(wants_json(Some("application/problem+json, text/html")));
        assert!(!wants_json(Some("text/html,application/json")));
        assert!(!wants_json(None));
        let (body, ct) = render(&info(), true);
        assert_eq!(ct, "application/json");
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(v["error"]["type"], "ValueError");
    }
}
