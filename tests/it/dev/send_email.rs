//! `send_email` under `dev`, as miniflare emulates it: messages are written to
//! files under `.wrangler/tmp/email/`, their paths logged, the allow-lists
//! enforced with miniflare's error texts.

use super::serve;

const CONFIG: &str = r#"{
  "name": "mail",
  "main": "src/entry.py",
  "compatibility_date": "2026-08-01",
  "compatibility_flags": ["python_workers"],
  "send_email": [
    { "name": "EMAIL" },
    { "name": "LOCKED", "allowed_destination_addresses": ["ok@example.com"],
      "allowed_sender_addresses": ["me@example.com"] }
  ]
}"#;

const ENTRY: &str = r#"import json
from pyodide.ffi import to_js
from js import Object
from workers import WorkerEntrypoint, Response, import_from_javascript

RAW = (
    "From: Me <me@example.com>\r\n"
    "To: you@example.com\r\n"
    "Message-ID: <raw-1@example.com>\r\n"
    "Subject: raw\r\n\r\n"
    "Hello from a raw message\r\n"
)

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        EmailMessage = import_from_javascript("cloudflare:email").EmailMessage
        out = {}
        sent = await self.env.EMAIL.send(EmailMessage.new("me@example.com", "you@example.com", RAW))
        out["raw"] = sent.messageId
        msg = {
            "from": {"email": "me@example.com", "name": "Me"},
            "to": ["you@example.com"],
            "subject": "built",
            "text": "plain body",
            "html": "<p>html body</p>",
            "attachments": [{"disposition": "attachment", "filename": "data.bin",
                             "type": "application/octet-stream", "content": b"\x00\x01\x02"}],
        }
        sent = await self.env.EMAIL.send(to_js(msg, dict_converter=Object.fromEntries))
        out["builder"] = sent.messageId
        for name, m in [
            ("to", EmailMessage("me@example.com", "no@example.com", RAW)),
            ("from", {"from": "x@example.com", "to": "ok@example.com", "subject": "s", "text": "t"}),
        ]:
            try:
                await self.env.LOCKED.send(m)
                out[name] = "sent"
            except Exception as e:
                out[name] = str(e)
        bad = RAW.replace("Message-ID: <raw-1@example.com>\r\n", "")
        try:
            await self.env.EMAIL.send(EmailMessage("me@example.com", "you@example.com", bad))
        except Exception as e:
            out["no_id"] = str(e)
        return Response(json.dumps(out))
"#;

fn files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn send_email_writes_messages_to_files_and_enforces_the_allow_lists() {
    let (dir, dev) = serve(&[("wrangler.jsonc", CONFIG), ("src/entry.py", ENTRY)], &[]);
    let v = dev.get_json("/");
    assert_eq!(v["raw"], "<raw-1@example.com>", "{v}");
    let built = v["builder"].as_str().expect("builder id");
    assert!(
        built.starts_with('<') && built.ends_with("@example.com>"),
        "{v}"
    );
    assert_eq!(v["to"], "email to no@example.com not allowed", "{v}");
    assert_eq!(v["from"], "email from x@example.com not allowed", "{v}");
    assert_eq!(v["no_id"], "invalid message-id", "{v}");

    let root = dir.path().join(".wrangler/tmp/email");
    let written = files(&root);
    let names: Vec<String> = written
        .iter()
        .map(|p| {
            let rel = p.strip_prefix(&root).expect("under root");
            // Drop the session directory.
            rel.iter()
                .skip(1)
                .map(|c| c.to_string_lossy())
                .collect::<Vec<_>>()
                .join("/")
        })
        .collect();
    let id = built.trim_start_matches('<').trim_end_matches('>');
    assert_eq!(
        names,
        [
            "email/raw-1@example.com.eml".to_string(),
            format!("email-attachment/{id}-1.bin"),
            format!("email-html/{id}.html"),
            format!("email-text/{id}.txt"),
        ],
        "{written:?}"
    );
    let eml = written
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "eml"))
        .expect("eml");
    let text = std::fs::read_to_string(eml).expect("eml text");
    assert!(text.contains("Hello from a raw message"), "{text}");
    let bin = written
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "bin"))
        .expect("bin");
    assert_eq!(std::fs::read(bin).expect("attachment"), [0, 1, 2]);

    let log = dev.log();
    assert!(
        log.contains("send_email binding called with the following message:")
            && log.contains("/email/raw-1@example.com.eml"),
        "{log}"
    );
    assert!(
        log.contains("send_email binding called with MessageBuilder:")
            && log.contains("From: \"Me\" <me@example.com>")
            && log.contains("Subject: built"),
        "{log}"
    );
    assert!(!log.contains("not emulated"), "{log}");
}
