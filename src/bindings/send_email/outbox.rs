//! `send_email` bindings as miniflare emulates them: nothing leaves the
//! machine. A send checks the binding's allow-lists with miniflare's error
//! texts, writes the message under `.wrangler/tmp/email/<session>/` (the raw
//! MIME as `email/<id>.eml`; a builder's parts as `email-text/`,
//! `email-html/`, `email-attachment/`), logs the paths and answers
//! `{messageId}`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::dev::bindings::{OpError, OpResult};
use crate::dev::bindings::{Reply, sqlite};

/// One configured `send_email[]` entry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SendEmailConfig {
    pub binding: String,
    pub destination_address: Option<String>,
    pub allowed_destination_addresses: Option<Vec<String>>,
    pub allowed_sender_addresses: Option<Vec<String>>,
}

/// Every `send_email` binding of one worker, writing into one session
/// directory (created on the first send).
pub struct EmailOutbox {
    configs: Vec<SendEmailConfig>,
    root: PathBuf,
    session: OnceLock<String>,
}

impl EmailOutbox {
    /// Outbox for `configs`, writing under `root` (`.wrangler/tmp/email`).
    pub fn new(root: PathBuf, configs: Vec<SendEmailConfig>) -> EmailOutbox {
        EmailOutbox {
            configs,
            root,
            session: OnceLock::new(),
        }
    }

    /// `send_email.<op>` on `binding`: `raw` (an `EmailMessage`, its MIME
    /// text in `body`) or `builder` (the object form).
    pub fn handle(&self, binding: &str, op: &str, args: &Value, body: Vec<u8>) -> OpResult<Reply> {
        let config = self
            .configs
            .iter()
            .find(|c| c.binding == binding)
            .ok_or_else(|| OpError::NoBinding {
                kind: "send_email",
                name: binding.to_string(),
            })?;
        let (message_id, log) = match op {
            "raw" => {
                let from = args.get("from").and_then(Value::as_str).unwrap_or("");
                let to = args.get("to").and_then(Value::as_str).unwrap_or("");
                self.send_raw(config, from, to, &body)?
            }
            "builder" => self.send_builder(config, args.get("builder").unwrap_or(&Value::Null))?,
            _ => return Err(OpError::UnknownOp(format!("send_email.{op}"))),
        };
        crate::printer::info(log);
        Ok(Reply::value(json!({ "messageId": message_id })))
    }

    fn session_dir(&self) -> PathBuf {
        self.root
            .join(self.session.get_or_init(sqlite::uuid_v4).as_str())
    }

    fn store(&self, prefix: &str, name: &str, bytes: &[u8]) -> OpResult<PathBuf> {
        let dir = self.session_dir().join(prefix);
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(name);
        std::fs::write(&path, bytes)?;
        Ok(path)
    }

    fn send_raw(
        &self,
        config: &SendEmailConfig,
        from: &str,
        to: &str,
        raw: &[u8],
    ) -> OpResult<(String, String)> {
        check_sender(config, from)?;
        check_destination(config, to)?;
        let headers = parse_headers(raw);
        let message_id = header(&headers, "message-id")
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| OpError::failed("invalid message-id"))?
            .to_string();
        let header_from = header(&headers, "from").map(address_of).unwrap_or_default();
        if header_from != from {
            return Err(OpError::failed("From: header does not match mail from"));
        }
        if header(&headers, "received").is_some() {
            return Err(OpError::failed("invalid headers set"));
        }
        let id = storage_id(&message_id);
        let path = self.store("email", &format!("{id}.eml"), raw)?;
        let log = format!(
            "send_email binding called with the following message:\nEmail: {}",
            path.display()
        );
        Ok((message_id, log))
    }

    fn send_builder(&self, config: &SendEmailConfig, b: &Value) -> OpResult<(String, String)> {
        let (Some(from), Some(to)) = (b.get("from"), b.get("to")) else {
            return Err(OpError::invalid(
                "send(): the message needs `from` and `to` (and `subject`)",
            ));
        };
        check_sender(config, &address_of(&display(from)))?;
        for addr in as_list(to) {
            check_destination(config, &address_of(&display(addr)))?;
        }
        let message_id = b
            .get("headers")
            .and_then(Value::as_object)
            .and_then(|h| {
                h.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("message-id"))
                    .and_then(|(_, v)| v.as_str())
            })
            .map(str::to_string)
            .unwrap_or_else(|| synthesize_message_id(&address_of(&display(from))));
        let id = storage_id(&message_id);

        let mut lines = vec![format!("From: {}", display(from))];
        let list = |v: &Value| as_list(v).into_iter().map(display).collect::<Vec<_>>();
        lines.push(format!("To: {}", list(to).join(", ")));
        if let Some(cc) = b.get("cc") {
            lines.push(format!("Cc: {}", list(cc).join(", ")));
        }
        if let Some(bcc) = b.get("bcc") {
            lines.push(format!("Bcc: {}", list(bcc).join(", ")));
        }
        let subject = b.get("subject").and_then(Value::as_str).unwrap_or("");
        lines.push(format!("Subject: {subject}"));

        let mut files = Vec::new();
        if let Some(text) = b
            .get("text")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        {
            let p = self.store("email-text", &format!("{id}.txt"), text.as_bytes())?;
            files.push(format!("Text: {}", p.display()));
        }
        if let Some(html) = b
            .get("html")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        {
            let p = self.store("email-html", &format!("{id}.html"), html.as_bytes())?;
            files.push(format!("HTML: {}", p.display()));
        }
        let attachments = b.get("attachments").and_then(Value::as_array);
        for (i, a) in attachments.into_iter().flatten().enumerate() {
            let filename = a.get("filename").and_then(Value::as_str).unwrap_or("");
            let content = a.get("content").and_then(Value::as_str).unwrap_or("");
            let bytes = if a.get("base64").and_then(Value::as_bool) == Some(true) {
                base64::engine::general_purpose::STANDARD
                    .decode(content)
                    .map_err(|e| OpError::invalid(format!("bad attachment content: {e}")))?
            } else {
                content.as_bytes().to_vec()
            };
            let name = format!("{id}-{}.{}", i + 1, attachment_extension(filename));
            let p = self.store("email-attachment", &name, &bytes)?;
            let disposition = a
                .get("disposition")
                .and_then(Value::as_str)
                .unwrap_or("attachment");
            files.push(format!(
                "Attachment ({disposition}): {filename} -> {}",
                p.display()
            ));
        }
        let mut log = format!(
            "send_email binding called with MessageBuilder:\n{}",
            lines.join("\n")
        );
        if !files.is_empty() {
            log.push_str("\n\n");
            log.push_str(&files.join("\n"));
        }
        Ok((message_id, log))
    }
}

fn check_destination(config: &SendEmailConfig, to: &str) -> OpResult<()> {
    let fixed = config
        .destination_address
        .as_deref()
        .is_some_and(|d| d != to);
    let listed = config
        .allowed_destination_addresses
        .as_ref()
        .is_some_and(|l| !l.iter().any(|a| a == to));
    if fixed || listed {
        return Err(OpError::failed(format!("email to {to} not allowed")));
    }
    Ok(())
}

fn check_sender(config: &SendEmailConfig, from: &str) -> OpResult<()> {
    if config
        .allowed_sender_addresses
        .as_ref()
        .is_some_and(|l| !l.iter().any(|a| a == from))
    {
        return Err(OpError::failed(format!("email from {from} not allowed")));
    }
    Ok(())
}

/// The header block of a MIME message (up to the first blank line), with
/// folded lines joined; names lowercased.
fn parse_headers(raw: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(raw);
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = out.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            out.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    out
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The bare address of `"Name" <addr>`, `Name <addr>` or `addr`.
fn address_of(value: &str) -> String {
    let value = value.trim();
    match (value.rfind('<'), value.ends_with('>')) {
        (Some(start), true) => value[start + 1..value.len() - 1].trim().to_string(),
        _ => value.to_string(),
    }
}

/// An address as a builder gives it (`"a@b"` or `{email, name}`), for display.
fn display(addr: &Value) -> String {
    match addr {
        Value::String(s) => s.clone(),
        Value::Object(o) => {
            let email = o.get("email").and_then(Value::as_str).unwrap_or("");
            match o.get("name").and_then(Value::as_str) {
                Some(name) => format!("\"{name}\" <{email}>"),
                None => email.to_string(),
            }
        }
        other => other.to_string(),
    }
}

fn as_list(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    }
}

/// A Message-ID in production's shape, `<36 alphanumerics@sender domain>`.
fn synthesize_message_id(sender: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = [0u8; 36];
    if getrandom::fill(&mut bytes).is_err() {
        let seed = sqlite::random_hex(36);
        bytes.copy_from_slice(&seed.as_bytes()[..36]);
    }
    let id: String = bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    let domain = sender.rsplit_once('@').map_or(sender, |(_, d)| d);
    format!("<{id}@{domain}>")
}

/// The id a message's files are named by: its Message-ID without the angle
/// brackets, made safe as a file name.
fn storage_id(message_id: &str) -> String {
    let id = message_id.trim();
    let id = id.strip_prefix('<').unwrap_or(id);
    let id = id.strip_suffix('>').unwrap_or(id);
    id.chars()
        .map(|c| {
            if c.is_control() || matches!(c, '/' | '\\' | ':') {
                '_'
            } else {
                c
            }
        })
        .collect::<String>()
        .trim_start_matches('.')
        .to_string()
}

/// The extension an attachment's file gets: its own if plain, else `bin`.
fn attachment_extension(filename: &str) -> &str {
    match filename.rsplit_once('.') {
        Some((_, ext))
            if ext.starts_with(|c: char| c.is_ascii_alphanumeric())
                && ext
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) =>
        {
            ext
        }
        _ => "bin",
    }
}

/// The outbox root of a project: `<root>/.wrangler/tmp/email`.
pub fn default_root(project_root: &Path) -> PathBuf {
    project_root.join(".wrangler").join("tmp").join("email")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn outbox(dir: &Path, config: SendEmailConfig) -> EmailOutbox {
        EmailOutbox::new(dir.to_path_buf(), vec![config])
    }

    fn cfg() -> SendEmailConfig {
        SendEmailConfig {
            binding: "EMAIL".into(),
            ..SendEmailConfig::default()
        }
    }

    const RAW: &str = "From: \"Sender\" <sender@example.com>\r\nTo: to@example.com\r\nMessage-ID: <abc123@example.com>\r\nSubject: Hi\r\n\r\nHello\r\n";

    fn files_under(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in walk(dir) {
            out.push(e.strip_prefix(dir).unwrap().to_path_buf());
        }
        out.sort();
        out
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
        out
    }

    #[test]
    fn raw_message_is_written_as_eml_and_returns_its_message_id() {
        let dir = tempfile::tempdir().unwrap();
        let o = outbox(dir.path(), cfg());
        let args = json!({"from": "sender@example.com", "to": "to@example.com"});
        let r = o.handle("EMAIL", "raw", &args, RAW.into()).unwrap();
        assert_eq!(r.value, json!({"messageId": "<abc123@example.com>"}));
        let files = files_under(dir.path());
        assert_eq!(files.len(), 1);
        assert!(
            files[0].ends_with("email/abc123@example.com.eml"),
            "{files:?}"
        );
        let written = std::fs::read_to_string(dir.path().join(&files[0])).unwrap();
        assert_eq!(written, RAW);
    }

    #[test]
    fn raw_message_checks_match_miniflare() {
        let dir = tempfile::tempdir().unwrap();
        let o = outbox(dir.path(), cfg());
        let send = |from: &str, raw: &str| {
            o.handle(
                "EMAIL",
                "raw",
                &json!({"from": from, "to": "to@example.com"}),
                raw.into(),
            )
            .unwrap_err()
            .to_string()
        };
        assert_eq!(
            send("sender@example.com", "From: sender@example.com\r\n\r\nx"),
            "invalid message-id"
        );
        assert_eq!(
            send("other@example.com", RAW),
            "From: header does not match mail from"
        );
        let received = format!("Received: from x\r\n{RAW}");
        assert_eq!(send("sender@example.com", &received), "invalid headers set");
        assert!(files_under(dir.path()).is_empty());
    }

    #[test]
    fn allow_lists_use_miniflare_error_texts() {
        let dir = tempfile::tempdir().unwrap();
        let o = outbox(
            dir.path(),
            SendEmailConfig {
                destination_address: Some("only@example.com".into()),
                allowed_sender_addresses: Some(vec!["sender@example.com".into()]),
                ..cfg()
            },
        );
        let err = |from: &str, to: &str| {
            o.handle("EMAIL", "raw", &json!({"from": from, "to": to}), RAW.into())
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err("bad@example.com", "only@example.com"),
            "email from bad@example.com not allowed"
        );
        assert_eq!(
            err("sender@example.com", "to@example.com"),
            "email to to@example.com not allowed"
        );

        let listed = outbox(
            dir.path(),
            SendEmailConfig {
                allowed_destination_addresses: Some(vec!["a@example.com".into()]),
                ..cfg()
            },
        );
        let b = json!({"builder": {"from": {"email": "s@x.com", "name": "S"},
                                   "to": ["a@example.com", "\"B\" <b@example.com>"],
                                   "subject": "s", "text": "t"}});
        assert_eq!(
            listed
                .handle("EMAIL", "builder", &b, Vec::new())
                .unwrap_err()
                .to_string(),
            "email to b@example.com not allowed"
        );
    }

    #[test]
    fn builder_writes_text_html_and_attachments() {
        let dir = tempfile::tempdir().unwrap();
        let o = outbox(dir.path(), cfg());
        let b = json!({"builder": {
        "from": "s@example.com", "to": "t@example.com", "subject": "Hi",
        "text": "plain", "html": "<p>html</p>",
        "headers": {"message-id": "<fixed@example.com>"},
        "attachments": [
            {"disposition": "attachment", "filename": "a.txt", "type": "text/plain", "content": "A"},
            {"disposition": "inline", "filename": "logo", "type": "image/png",
             "content": "AAEC", "base64": true}
        ]}});
        let r = o.handle("EMAIL", "builder", &b, Vec::new()).unwrap();
        assert_eq!(r.value["messageId"], "<fixed@example.com>");
        let files: Vec<String> = files_under(dir.path())
            .iter()
            .map(|p| {
                p.iter()
                    .skip(1)
                    .map(|c| c.to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .collect();
        assert_eq!(
            files,
            [
                "email-attachment/fixed@example.com-1.txt",
                "email-attachment/fixed@example.com-2.bin",
                "email-html/fixed@example.com.html",
                "email-text/fixed@example.com.txt",
            ]
        );
        let session = std::fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let png = std::fs::read(session.join("email-attachment/fixed@example.com-2.bin")).unwrap();
        assert_eq!(png, [0, 1, 2]);
    }

    #[test]
    fn builder_without_message_id_gets_production_shaped_one() {
        let dir = tempfile::tempdir().unwrap();
        let o = outbox(dir.path(), cfg());
        let b =
            json!({"builder": {"from": "s@example.com", "to": "t@example.com", "subject": "x"}});
        let r = o.handle("EMAIL", "builder", &b, Vec::new()).unwrap();
        let id = r.value["messageId"].as_str().unwrap();
        let inner = id
            .strip_prefix('<')
            .unwrap()
            .strip_suffix("@example.com>")
            .unwrap();
        assert_eq!(inner.len(), 36);
        assert!(inner.chars().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn unknown_binding_and_op_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let o = outbox(dir.path(), cfg());
        assert!(o.handle("OTHER", "raw", &json!({}), Vec::new()).is_err());
        assert!(o.handle("EMAIL", "nope", &json!({}), Vec::new()).is_err());
    }

    #[test]
    fn storage_ids_and_extensions_are_safe_file_names() {
        assert_eq!(storage_id("<a/../b@x>"), "a_.._b@x");
        assert_eq!(storage_id("<..x@y>"), "x@y");
        assert_eq!(attachment_extension("report.pdf"), "pdf");
        assert_eq!(attachment_extension("noext"), "bin");
        assert_eq!(attachment_extension("weird.$$"), "bin");
        assert_eq!(address_of("\"N\" <a@b.c>"), "a@b.c");
        assert_eq!(address_of(" a@b.c "), "a@b.c");
    }
}
