//! The answers hyper writes itself, in the service's JSON error shape.
//!
//! A few requests never reach the application: a request line over 64 KiB
//! (the longest URI the `http` crate can hold), too many or too large
//! header fields, bytes that are not HTTP/1.1. hyper answers those on its
//! own (414, 431, 400) with an empty body and closes the connection, and
//! offers no hook to change what it writes. So the connection it writes to
//! is wrapped: a response that is only a head, with an error status,
//! `content-length: 0` and `connection: close`, is one of those (every
//! error the application answers has a JSON body), and is written instead
//! with the same status and a JSON body.

use std::io::IoSlice;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use axum::http::StatusCode;
use hyper::rt::{Read, ReadBufCursor, Write};

use crate::http::error::{code_of, ErrorBody};

/// Longest head hyper writes for its own errors; a longer one is the
/// application's and passes untouched without being copied.
const MAX_OWN_HEAD: usize = 512;

/// A connection whose hyper-made error answers carry a JSON body.
pub struct OwnErrorsInJson<T> {
    inner: T,
    /// A rewritten answer and how much of it is written so far.
    pending: Option<(Vec<u8>, usize)>,
}

impl<T> OwnErrorsInJson<T> {
    pub fn new(inner: T) -> Self {
        Self { inner, pending: None }
    }
}

impl<T: Write + Unpin> OwnErrorsInJson<T> {
    /// Writes what is left of a rewritten answer.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while let Some((bytes, written)) = &mut self.pending {
            if *written == bytes.len() {
                self.pending = None;
                break;
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(()))
    }

    /// Takes `head` in place of what hyper wrote: true when it was one of
    /// hyper's own answers (then the rewrite is under way).
    fn took_over(&mut self, cx: &mut Context<'_>, head: &[u8]) -> std::io::Result<bool> {
        let Some(json) = rewritten(head) else { return Ok(false) };
        self.pending = Some((json, 0));
        // Pending is fine: poll_flush and poll_shutdown finish the write.
        if let Poll::Ready(Err(e)) = self.poll_pending(cx) {
            return Err(e);
        }
        Ok(true)
    }
}

impl<T: Read + Unpin> Read for OwnErrorsInJson<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: ReadBufCursor<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: Write + Unpin> Write for OwnErrorsInJson<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        ready!(this.poll_pending(cx))?;
        if this.took_over(cx, buf)? {
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        ready!(this.poll_pending(cx))?;
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total <= MAX_OWN_HEAD && bufs.first().is_some_and(|b| b.starts_with(b"HTTP/1.1 ")) {
            let whole: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
            if this.took_over(cx, &whole)? {
                return Poll::Ready(Ok(total));
            }
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// `head` again with a JSON error body, when it is one of hyper's own
/// answers: only a head, an error status, no body, and the connection closing.
fn rewritten(head: &[u8]) -> Option<Vec<u8>> {
    if head.len() > MAX_OWN_HEAD || !head.ends_with(b"\r\n\r\n") {
        return None;
    }
    let text = std::str::from_utf8(head).ok()?;
    let status_line = text.strip_prefix("HTTP/1.1 ")?.split("\r\n").next()?;
    let status = StatusCode::from_bytes(status_line.get(..3)?.as_bytes()).ok()?;
    let lower = text.to_ascii_lowercase();
    let own = (status.is_client_error() || status.is_server_error())
        && lower.contains("\r\ncontent-length: 0\r\n")
        && lower.contains("\r\nconnection: close\r\n");
    if !own {
        return None;
    }
    let error = match status {
        StatusCode::URI_TOO_LONG => "the request line is longer than 64 KiB; a query string may be at most 8 KiB",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "the request has too many header fields, or too large ones",
        StatusCode::BAD_REQUEST => "the request is not valid HTTP/1.1",
        other => other.canonical_reason().unwrap_or("error"),
    };
    let body = serde_json::to_vec(&ErrorBody { error: error.into(), code: code_of(status), field: None }).ok()?;
    // The head as hyper wrote it (status, date, connection), with the body's
    // type and length in place of `content-length: 0`.
    let mut out = String::with_capacity(head.len() + 64 + body.len());
    for line in text.trim_end_matches("\r\n").split("\r\n") {
        if line.eq_ignore_ascii_case("content-length: 0") {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str(&format!("content-type: application/json\r\ncontent-length: {}\r\n\r\n", body.len()));
    let mut out = out.into_bytes();
    out.extend_from_slice(&body);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypers_own_answers_get_a_json_body_and_the_applications_pass_untouched() {
        let hyper_414 = b"HTTP/1.1 414 URI Too Long\r\nconnection: close\r\ncontent-length: 0\r\ndate: Thu, 03 Dec 2026 14:10:46 GMT\r\n\r\n";
        let out = String::from_utf8(rewritten(hyper_414).expect("rewritten")).expect("text");
        let (head, body) = out.split_once("\r\n\r\n").expect("head and body");
        assert!(head.starts_with("HTTP/1.1 414 URI Too Long\r\nconnection: close\r\n"), "{head}");
        assert!(head.contains("date: Thu, 03 Dec 2026 14:10:46 GMT"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let json: serde_json::Value = serde_json::from_str(body).expect("JSON");
        assert_eq!(json["code"], "bad_request");
        // The application's answers: with a body, keeping the connection, or not an error.
        for head in [
            &b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 20\r\n\r\n"[..],
            b"HTTP/1.1 204 No Content\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n",
        ] {
            assert_eq!(rewritten(head), None, "{}", String::from_utf8_lossy(head));
        }
    }
}
