//! `HTMLRewriter` for `dev` on Cloudflare's own engine, lol_html. The
//! handlers are Python objects in the guest, so lol_html runs on a helper
//! thread and each match is handed to the host-call thread, which delivers
//! it to the calling instance as a nested `html` event and passes back the
//! edits the handler made. The parser waits for each answer, as workerd's
//! does for a handler's promise, so async handlers work too.
//!
//! A transform is a session that streams, as production's does: `html.start`
//! sets it up, each `html.write` feeds one chunk of the body and returns the
//! rewritten bytes lol_html has produced so far, `html.end` flushes the rest
//! and `html.close` drops a session the guest gave up on.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, mpsc};

use lol_html::errors::RewritingError;
use lol_html::html_content::{
    Comment, ContentType, Doctype, DocumentEnd, Element, EndTag, TextChunk,
};
use lol_html::{
    AsciiCompatibleEncoding, DocumentContentHandlers, ElementContentHandlers, HandlerResult,
    HtmlRewriter, MemorySettings, OutputSink, Selector, Settings,
};
use pywrangler_runtime::{HostReply, Reentry};
use serde_json::{Value, json};

/// The host ops of a transform (all start with `html.`).
pub const OP_PREFIX: &str = "html.";

/// Input is fed to the parser in slices of this size, so text handlers see
/// text split into chunks as they do over a network body.
const FEED: usize = 16 * 1024;

/// workerd's parser settings.
const PARSING_BUFFER: usize = 1024;
const MAX_MEMORY: usize = 3 << 20;

/// Most sessions open at once; past it the oldest is dropped (a Worker that
/// abandons transforms cannot keep threads forever).
const MAX_SESSIONS: usize = 64;

/// What the host-call thread tells a session's rewriter thread.
enum Feed {
    Chunk(Vec<u8>),
    End,
}

/// What the rewriter thread tells the host-call thread.
enum ToHost {
    /// A handler call for the guest (the payload of an `html` event).
    Ask(Value),
    /// The output of one chunk (or of the end), or (exception type, message).
    Output(Result<Vec<u8>, (&'static str, String)>),
}

/// The host-call side of one running transform.
struct Session {
    feed: mpsc::Sender<Feed>,
    from_rewriter: mpsc::Receiver<ToHost>,
    answers: mpsc::Sender<Result<Value, String>>,
}

static SESSIONS: Mutex<BTreeMap<u64, Session>> = Mutex::new(BTreeMap::new());
static NEXT_SESSION: AtomicU64 = AtomicU64::new(1);

fn sessions() -> std::sync::MutexGuard<'static, BTreeMap<u64, Session>> {
    SESSIONS.lock().unwrap_or_else(|e| e.into_inner())
}

/// The rewriter thread's end of the conversation.
#[derive(Clone)]
struct Bridge {
    session: Value,
    tx: mpsc::Sender<ToHost>,
    rx: Rc<mpsc::Receiver<Result<Value, String>>>,
}

impl Bridge {
    /// Runs one handler in the guest; returns the edits it asked for.
    fn ask(&self, target: &str, handler: u64, kind: &str, mut data: Value) -> Ops {
        data["session"] = self.session.clone();
        data["target"] = json!(target);
        data["handler"] = json!(handler);
        data["type"] = json!(kind);
        self.tx
            .send(ToHost::Ask(data))
            .map_err(|_| "the request ended while the HTML rewriter was running")?;
        let reply = self
            .rx
            .recv()
            .map_err(|_| "the request ended while the HTML rewriter was running")??;
        Ok(reply
            .get("ops")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default())
    }
}

type Ops = Result<Vec<Value>, Box<dyn std::error::Error + Send + Sync>>;

/// Serves the `html.*` ops for the instance that called them.
pub fn host_op(header: &Value, body: Vec<u8>, guest: &mut Reentry<'_, '_>) -> HostReply {
    let op = header.get("op").and_then(Value::as_str).unwrap_or("");
    let args = header.get("args").cloned().unwrap_or(Value::Null);
    let id = args.get("id").and_then(Value::as_u64).unwrap_or(0);
    match op.strip_prefix(OP_PREFIX).unwrap_or("") {
        "start" => match start(args) {
            Ok(id) => HostReply::ok_with_body(json!({ "id": id }), Vec::new()),
            Err((kind, message)) => HostReply::error(kind, message),
        },
        "write" => pump(id, Feed::Chunk(body), guest),
        "end" => pump(id, Feed::End, guest),
        "close" => {
            sessions().remove(&id);
            HostReply::ok_with_body(Value::Null, Vec::new())
        }
        other => HostReply::error("Error", format!("unknown HTMLRewriter op `html.{other}`")),
    }
}

/// Sets up a session: checks the selectors, then starts its rewriter thread.
fn start(args: Value) -> Result<u64, (&'static str, String)> {
    for spec in args
        .get("elements")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let selector = spec.get("selector").and_then(Value::as_str).unwrap_or("");
        selector
            .parse::<Selector>()
            .map_err(|e| ("TypeError", format!("Parser error: {e}")))?;
    }
    let (feed, feed_rx) = mpsc::channel();
    let (to_host, from_rewriter) = mpsc::channel();
    let (answers, answers_rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("html-rewriter".into())
        .spawn(move || {
            let bridge = Bridge {
                session: args.get("session").cloned().unwrap_or(Value::Null),
                tx: to_host.clone(),
                rx: Rc::new(answers_rx),
            };
            rewrite(&args, &feed_rx, &bridge, &to_host);
        })
        .map_err(|e| ("Error", format!("cannot start the HTML rewriter: {e}")))?;
    let id = NEXT_SESSION.fetch_add(1, Ordering::Relaxed);
    let mut open = sessions();
    while open.len() >= MAX_SESSIONS {
        open.pop_first();
    }
    open.insert(
        id,
        Session {
            feed,
            from_rewriter,
            answers,
        },
    );
    Ok(id)
}

/// Feeds one chunk (or the end) to a session, delivering the handler calls
/// it makes to the guest, and replies with the rewritten bytes.
fn pump(id: u64, feed: Feed, guest: &mut Reentry<'_, '_>) -> HostReply {
    let ending = matches!(feed, Feed::End);
    // Taken out while it runs; put back unless it ended or failed.
    let Some(session) = sessions().remove(&id) else {
        return HostReply::error("Error", "this HTMLRewriter transform has already ended");
    };
    if session.feed.send(feed).is_err() {
        return HostReply::error("Error", "the HTML rewriter stopped unexpectedly");
    }
    loop {
        match session.from_rewriter.recv() {
            Ok(ToHost::Ask(mut event)) => {
                event["v"] = json!(1);
                event["kind"] = json!("html");
                let answer = guest
                    .invoke(&event, &[])
                    .map(|(reply, _)| reply.get("result").cloned().unwrap_or(Value::Null))
                    .map_err(|e| e.to_string());
                // A closed channel means the rewriter is done; its `Output`
                // is read on the next turn.
                let _ = session.answers.send(answer);
            }
            Ok(ToHost::Output(Ok(out))) => {
                if !ending {
                    sessions().insert(id, session);
                }
                break HostReply::ok_with_body(Value::Null, out);
            }
            Ok(ToHost::Output(Err((kind, message)))) => break HostReply::error(kind, message),
            Err(_) => break HostReply::error("Error", "the HTML rewriter stopped unexpectedly"),
        }
    }
}

/// One handler registration from the guest: `{"selector"?, "element",
/// "comments", "text", …}` flags for the callbacks its object has.
fn has(spec: &Value, name: &str) -> bool {
    spec.get(name).and_then(Value::as_bool) == Some(true)
}

/// Runs lol_html with the guest's handlers over the chunks fed to it,
/// answering each with its output (on the rewriter thread). Ends at the
/// end of the document, on an error, or when the session is dropped.
fn rewrite(
    args: &Value,
    feed: &mpsc::Receiver<Feed>,
    bridge: &Bridge,
    to_host: &mpsc::Sender<ToHost>,
) {
    let out = Collected::default();
    let mut rewriter = match build(args, bridge, out.clone()) {
        Ok(r) => r,
        Err(e) => {
            let _ = to_host.send(ToHost::Output(Err(e)));
            return;
        }
    };
    let fail = |e: RewritingError| match e {
        RewritingError::ContentHandlerError(e) => ("Error", e.to_string()),
        other => ("TypeError", format!("Parser error: {other}")),
    };
    while let Ok(next) = feed.recv() {
        let result = match next {
            Feed::Chunk(chunk) => chunk
                .chunks(FEED)
                .try_for_each(|slice| rewriter.write(slice))
                .map_err(fail),
            Feed::End => {
                let result = rewriter.end().map_err(fail);
                let _ = to_host.send(ToHost::Output(result.map(|()| out.take())));
                return;
            }
        };
        let failed = result.is_err();
        let _ = to_host.send(ToHost::Output(result.map(|()| out.take())));
        if failed {
            return;
        }
    }
}

/// The rewritten bytes produced since they were last taken.
#[derive(Clone, Default)]
struct Collected(Rc<RefCell<Vec<u8>>>);

impl Collected {
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut self.0.borrow_mut())
    }
}

impl OutputSink for Collected {
    fn handle_chunk(&mut self, chunk: &[u8]) {
        self.0.borrow_mut().extend_from_slice(chunk);
    }
}

/// A lol_html rewriter with the guest's handlers.
fn build(
    args: &Value,
    bridge: &Bridge,
    out: Collected,
) -> Result<HtmlRewriter<'static, Collected>, (&'static str, String)> {
    let empty = Vec::new();
    let elements = args
        .get("elements")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    let documents = args
        .get("document")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    let encoding = args
        .get("encoding")
        .and_then(Value::as_str)
        .and_then(|label| encoding_rs::Encoding::for_label(label.as_bytes()))
        .and_then(AsciiCompatibleEncoding::new)
        .unwrap_or_else(AsciiCompatibleEncoding::utf_8);
    let mut settings = Settings::new()
        .with_strict(true)
        .with_encoding(encoding)
        .with_memory_settings(
            MemorySettings::new()
                .with_preallocated_parsing_buffer_size(PARSING_BUFFER)
                .with_max_allowed_memory_usage(MAX_MEMORY),
        );
    for (i, spec) in elements.iter().enumerate() {
        let i = i as u64;
        let selector = spec.get("selector").and_then(Value::as_str).unwrap_or("");
        let parsed: Selector = selector
            .parse()
            .map_err(|e| ("TypeError", format!("Parser error: {e}")))?;
        let mut handlers = ElementContentHandlers::default();
        if has(spec, "element") {
            let b = bridge.clone();
            handlers = handlers.element(move |el: &mut Element<'_, '_>| on_element(&b, i, el));
        }
        if has(spec, "comments") {
            let b = bridge.clone();
            handlers = handlers.comments(move |c: &mut Comment<'_>| on_comment(&b, "el", i, c));
        }
        if has(spec, "text") {
            let b = bridge.clone();
            handlers = handlers.text(move |t: &mut TextChunk<'_>| on_text(&b, "el", i, t));
        }
        settings =
            settings.append_element_content_handler((std::borrow::Cow::Owned(parsed), handlers));
    }
    for (i, spec) in documents.iter().enumerate() {
        let i = i as u64;
        let mut handlers = DocumentContentHandlers::default();
        if has(spec, "doctype") {
            let b = bridge.clone();
            handlers = handlers.doctype(move |d: &mut Doctype<'_>| on_doctype(&b, i, d));
        }
        if has(spec, "comments") {
            let b = bridge.clone();
            handlers = handlers.comments(move |c: &mut Comment<'_>| on_comment(&b, "doc", i, c));
        }
        if has(spec, "text") {
            let b = bridge.clone();
            handlers = handlers.text(move |t: &mut TextChunk<'_>| on_text(&b, "doc", i, t));
        }
        if has(spec, "end") {
            let b = bridge.clone();
            handlers = handlers.end(move |d: &mut DocumentEnd<'_>| on_end(&b, i, d));
        }
        settings = settings.append_document_content_handler(handlers);
    }
    Ok(HtmlRewriter::new(settings, out))
}

/// `(content, html)` of a content op.
fn content(op: &Value) -> (&str, ContentType) {
    let text = op.get(1).and_then(Value::as_str).unwrap_or("");
    let kind = if op.get(2).and_then(Value::as_bool) == Some(true) {
        ContentType::Html
    } else {
        ContentType::Text
    };
    (text, kind)
}

fn op_name(op: &Value) -> &str {
    op.get(0).and_then(Value::as_str).unwrap_or("")
}

fn unknown(kind: &str, op: &Value) -> Box<dyn std::error::Error + Send + Sync> {
    format!("HTMLRewriter: {kind} cannot `{}`", op_name(op)).into()
}

fn on_element(bridge: &Bridge, i: u64, el: &mut Element<'_, '_>) -> HandlerResult {
    let attrs: Vec<Value> = el
        .attributes()
        .iter()
        .map(|a| json!([a.name(), a.value()]))
        .collect();
    let data = json!({
        "tag": el.tag_name(),
        "ns": el.namespace_uri(),
        "attrs": attrs,
        "self_closing": el.is_self_closing(),
        "can_have_content": el.can_have_content(),
    });
    for op in bridge.ask("el", i, "element", data)? {
        let arg = |n: usize| op.get(n).and_then(Value::as_str).unwrap_or("");
        match op_name(&op) {
            "tagName" => el.set_tag_name(arg(1))?,
            "setAttribute" => el.set_attribute(arg(1), arg(2))?,
            "removeAttribute" => el.remove_attribute(arg(1)),
            "before" => {
                let (c, t) = content(&op);
                el.before(c, t)
            }
            "after" => {
                let (c, t) = content(&op);
                el.after(c, t)
            }
            "prepend" => {
                let (c, t) = content(&op);
                el.prepend(c, t)
            }
            "append" => {
                let (c, t) = content(&op);
                el.append(c, t)
            }
            "replace" => {
                let (c, t) = content(&op);
                el.replace(c, t)
            }
            "setInnerContent" => {
                let (c, t) = content(&op);
                el.set_inner_content(c, t)
            }
            "remove" => el.remove(),
            "removeAndKeepContent" => el.remove_and_keep_content(),
            "onEndTag" => {
                let id = op.get(1).and_then(Value::as_u64).unwrap_or(0);
                let b = bridge.clone();
                el.on_end_tag(Box::new(move |end: &mut EndTag<'_>| {
                    on_end_tag(&b, id, end)
                }))?;
            }
            _ => return Err(unknown("an element", &op)),
        }
    }
    Ok(())
}

fn on_end_tag(bridge: &Bridge, id: u64, end: &mut EndTag<'_>) -> HandlerResult {
    for op in bridge.ask("end_tag", id, "end_tag", json!({ "name": end.name() }))? {
        match op_name(&op) {
            "name" => end.set_name(op.get(1).and_then(Value::as_str).unwrap_or("").to_string()),
            "before" => {
                let (c, t) = content(&op);
                end.before(c, t)
            }
            "after" => {
                let (c, t) = content(&op);
                end.after(c, t)
            }
            "remove" => end.remove(),
            _ => return Err(unknown("an end tag", &op)),
        }
    }
    Ok(())
}

fn on_text(bridge: &Bridge, target: &str, i: u64, t: &mut TextChunk<'_>) -> HandlerResult {
    let data = json!({ "text": t.as_str(), "last": t.last_in_text_node() });
    for op in bridge.ask(target, i, "text", data)? {
        match op_name(&op) {
            "before" => {
                let (c, k) = content(&op);
                t.before(c, k)
            }
            "after" => {
                let (c, k) = content(&op);
                t.after(c, k)
            }
            "replace" => {
                let (c, k) = content(&op);
                t.replace(c, k)
            }
            "remove" => t.remove(),
            _ => return Err(unknown("a text chunk", &op)),
        }
    }
    Ok(())
}

fn on_comment(bridge: &Bridge, target: &str, i: u64, c: &mut Comment<'_>) -> HandlerResult {
    for op in bridge.ask(target, i, "comments", json!({ "text": c.text() }))? {
        match op_name(&op) {
            "text" => c.set_text(op.get(1).and_then(Value::as_str).unwrap_or(""))?,
            "before" => {
                let (s, k) = content(&op);
                c.before(s, k)
            }
            "after" => {
                let (s, k) = content(&op);
                c.after(s, k)
            }
            "replace" => {
                let (s, k) = content(&op);
                c.replace(s, k)
            }
            "remove" => c.remove(),
            _ => return Err(unknown("a comment", &op)),
        }
    }
    Ok(())
}

fn on_doctype(bridge: &Bridge, i: u64, d: &mut Doctype<'_>) -> HandlerResult {
    let data = json!({ "name": d.name(), "public_id": d.public_id(), "system_id": d.system_id() });
    match bridge.ask("doc", i, "doctype", data)?.first() {
        None => Ok(()),
        Some(op) => Err(unknown("a doctype", op)),
    }
}

fn on_end(bridge: &Bridge, i: u64, d: &mut DocumentEnd<'_>) -> HandlerResult {
    for op in bridge.ask("doc", i, "end", json!({}))? {
        match op_name(&op) {
            "append" => {
                let (c, k) = content(&op);
                d.append(c, k)
            }
            _ => return Err(unknown("the document end", &op)),
        }
    }
    Ok(())
}
