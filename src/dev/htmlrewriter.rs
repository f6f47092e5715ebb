//! `HTMLRewriter` for `dev` on Cloudflare's own engine, lol_html. The
//! handlers are Python objects in the guest, so lol_html runs on a helper
//! thread and each match is handed to the host-call thread, which delivers
//! it to the calling instance as a nested `html` event and passes back the
//! edits the handler made. The parser waits for each answer, as workerd's
//! does for a handler's promise, so async handlers work too.

use std::rc::Rc;
use std::sync::mpsc;

use lol_html::errors::RewritingError;
use lol_html::html_content::{
    Comment, ContentType, Doctype, DocumentEnd, Element, EndTag, TextChunk,
};
use lol_html::{
    AsciiCompatibleEncoding, DocumentContentHandlers, ElementContentHandlers, HandlerResult,
    HtmlRewriter, MemorySettings, Selector, Settings,
};
use pywrangler_runtime::{HostReply, Reentry};
use serde_json::{Value, json};

/// The host op that runs one transform: `args` names the handlers, the
/// body is the document; the reply body is the rewritten document.
pub const OP: &str = "html.transform";

/// Input is fed to the parser in slices of this size, so text handlers see
/// text split into chunks as they do over a network body.
const FEED: usize = 16 * 1024;

/// workerd's parser settings.
const PARSING_BUFFER: usize = 1024;
const MAX_MEMORY: usize = 3 << 20;

/// What the rewriter thread tells the host-call thread.
enum ToHost {
    /// A handler call for the guest (the payload of an `html` event).
    Ask(Value),
    /// The rewritten document, or (exception type, message).
    Done(Result<Vec<u8>, (&'static str, String)>),
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

/// Serves [`OP`] for the instance that called it.
pub fn transform(header: &Value, body: &[u8], guest: &mut Reentry<'_, '_>) -> HostReply {
    let args = header.get("args").cloned().unwrap_or(Value::Null);
    std::thread::scope(|scope| {
        let (to_host, from_rewriter) = mpsc::channel();
        let (to_rewriter, from_host) = mpsc::channel();
        let worker = scope.spawn(move || {
            let bridge = Bridge {
                session: args.get("session").cloned().unwrap_or(Value::Null),
                tx: to_host.clone(),
                rx: Rc::new(from_host),
            };
            let _ = to_host.send(ToHost::Done(rewrite(&args, body, &bridge)));
        });
        let reply = loop {
            match from_rewriter.recv() {
                Ok(ToHost::Ask(mut event)) => {
                    event["v"] = json!(1);
                    event["kind"] = json!("html");
                    let answer = guest
                        .invoke(&event, &[])
                        .map(|(reply, _)| reply.get("result").cloned().unwrap_or(Value::Null))
                        .map_err(|e| e.to_string());
                    // A closed channel means the rewriter is done; its
                    // `Done` is read on the next turn.
                    let _ = to_rewriter.send(answer);
                }
                Ok(ToHost::Done(Ok(out))) => break HostReply::ok_with_body(Value::Null, out),
                Ok(ToHost::Done(Err((kind, message)))) => break HostReply::error(kind, message),
                Err(_) => {
                    break HostReply::error("Error", "the HTML rewriter stopped unexpectedly");
                }
            }
        };
        drop(to_rewriter);
        if worker.join().is_err() {
            return HostReply::error("Error", "the HTML rewriter failed");
        }
        reply
    })
}

/// One handler registration from the guest: `{"selector"?, "element",
/// "comments", "text", …}` flags for the callbacks its object has.
fn has(spec: &Value, name: &str) -> bool {
    spec.get(name).and_then(Value::as_bool) == Some(true)
}

/// Runs lol_html over `input` with the guest's handlers (on the rewriter thread).
fn rewrite(args: &Value, input: &[u8], bridge: &Bridge) -> Result<Vec<u8>, (&'static str, String)> {
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
    let mut out = Vec::new();
    let mut rewriter = HtmlRewriter::new(settings, |chunk: &[u8]| out.extend_from_slice(chunk));
    let fail = |e: RewritingError| match e {
        RewritingError::ContentHandlerError(e) => ("Error", e.to_string()),
        RewritingError::MemoryLimitExceeded(e) => ("TypeError", format!("Parser error: {e}")),
        RewritingError::ParsingAmbiguity(e) => ("TypeError", format!("Parser error: {e}")),
        other => ("TypeError", format!("Parser error: {other}")),
    };
    for slice in input.chunks(FEED) {
        rewriter.write(slice).map_err(fail)?;
    }
    rewriter.end().map_err(fail)?;
    Ok(out)
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
