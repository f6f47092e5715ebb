//! Guest output, delivered line by line to a per-instance callback so that
//! `dev` can prefix each line with the request it belongs to.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// Where a line of guest output came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogStream {
    /// The guest's stdout (`print`).
    Stdout,
    /// The guest's stderr (warnings, unhandled tracebacks).
    Stderr,
    /// A `console.log`-style host `log` call, with its level.
    Console(String),
}

/// One line of guest output, without its trailing newline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Which stream produced it.
    pub stream: LogStream,
    /// The text (lossy UTF-8).
    pub text: String,
}

/// Receives every line an instance prints.
pub type LogSink = Arc<dyn Fn(LogLine) + Send + Sync>;

/// The sink of one instance, replaceable between events
/// ([`crate::Instance::set_log`]).
#[derive(Clone)]
pub(crate) struct SharedSink(Arc<std::sync::RwLock<LogSink>>);

impl SharedSink {
    pub(crate) fn new(sink: LogSink) -> Self {
        SharedSink(Arc::new(std::sync::RwLock::new(sink)))
    }

    pub(crate) fn get(&self) -> LogSink {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn set(&self, sink: LogSink) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = sink;
    }
}

/// Splits a byte stream into lines and hands them to a sink.
#[derive(Clone)]
pub(crate) struct LineWriter {
    stream: LogStream,
    sink: SharedSink,
    pending: Arc<Mutex<Vec<u8>>>,
}

/// A guest writing more than this without a newline gets it split here.
const MAX_LINE: usize = 64 * 1024;

impl LineWriter {
    pub(crate) fn new(stream: LogStream, sink: SharedSink) -> Self {
        LineWriter {
            stream,
            sink,
            pending: Arc::default(),
        }
    }

    /// The callback lines go to.
    pub(crate) fn sink(&self) -> LogSink {
        self.sink.get()
    }

    fn push(&self, bytes: &[u8]) {
        let mut lines = Vec::new();
        {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            pending.extend_from_slice(bytes);
            while let Some(pos) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=pos).collect();
                lines.push(line[..line.len() - 1].to_vec());
            }
            if pending.len() > MAX_LINE {
                lines.push(std::mem::take(&mut *pending));
            }
        }
        for line in lines {
            self.emit(&line);
        }
    }

    /// Emits a trailing partial line, if any (called after each event).
    pub(crate) fn flush_partial(&self) {
        let rest = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        if !rest.is_empty() {
            self.emit(&rest);
        }
    }

    fn emit(&self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        (self.sink.get())(LogLine {
            stream: self.stream.clone(),
            text: String::from_utf8_lossy(line).into_owned(),
        });
    }
}

impl IsTerminal for LineWriter {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LineWriter {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LineWriter {
    async fn ready(&mut self) {}
}

#[wasmtime_wasi::async_trait]
impl OutputStream for LineWriter {
    fn write(&mut self, bytes: bytes::Bytes) -> Result<(), StreamError> {
        self.push(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }
    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(MAX_LINE)
    }
}

impl tokio::io::AsyncWrite for LineWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_and_keeps_partials() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let w = LineWriter::new(
            LogStream::Stdout,
            SharedSink::new(Arc::new(move |l: LogLine| {
                s.lock().expect("lock").push(l.text)
            })),
        );
        w.push(b"a\nb");
        w.push(b"c\r\nd");
        w.flush_partial();
        assert_eq!(*seen.lock().expect("lock"), vec!["a", "bc", "d"]);
    }
}
