//! Accepting connections: TLS (with a plain-text hint for `http://` on the HTTPS port) or plain
//! HTTP, HTTP/1.1 with hyper, and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use rampart_action::{ActionResponse, EsError};
use rampart_pki::ReloadingServerConfig;
use rampart_security::{Credentials, SecretString};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use zeroize::Zeroizing;

use crate::headers::SecurityHeaders;
use crate::routes::{Routed, Routes};
use crate::{ActionHandler, RequestContext};

const TLS_HANDSHAKE_BYTE: u8 = 0x16;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct HttpServerOptions {
    /// `None` serves plain HTTP.
    pub tls: Option<Arc<ReloadingServerConfig>>,
    pub security_headers: SecurityHeaders,
    pub max_content_length: usize,
}

pub struct HttpServer<H> {
    listeners: Vec<TcpListener>,
    shared: Arc<Shared<H>>,
}

impl<H> std::fmt::Debug for HttpServer<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpServer")
            .field("listeners", &self.listeners)
            .finish_non_exhaustive()
    }
}

struct Shared<H> {
    options: HttpServerOptions,
    handler: Arc<H>,
    routes: Routes,
}

impl<H: ActionHandler> HttpServer<H> {
    pub fn new(listeners: Vec<TcpListener>, options: HttpServerOptions, handler: Arc<H>) -> Self {
        HttpServer {
            listeners,
            shared: Arc::new(Shared {
                options,
                handler,
                routes: Routes::new(),
            }),
        }
    }

    /// Serves until `shutdown` completes, then stops accepting, lets in-flight requests finish
    /// (up to 30 s), and returns.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let graceful = GracefulShutdown::new();
        let (conn_tx, mut conn_rx) = tokio::sync::mpsc::channel::<(TcpStream, SocketAddr)>(64);
        let mut accept_tasks = Vec::new();
        for listener in self.listeners {
            let tx = conn_tx.clone();
            accept_tasks.push(tokio::spawn(async move {
                loop {
                    match listener.accept().await {
                        Ok(conn) => {
                            if tx.send(conn).await.is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            // Out of file descriptors and the like: back off rather than spin.
                            tracing::warn!("failed to accept an HTTP connection: {e}");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
            }));
        }
        drop(conn_tx);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                conn = conn_rx.recv() => match conn {
                    Some((stream, addr)) => {
                        let shared = Arc::clone(&self.shared);
                        let watcher = graceful.watcher();
                        tokio::spawn(async move { shared.serve_connection(stream, addr, watcher).await });
                    }
                    None => break,
                },
            }
        }
        for task in accept_tasks {
            task.abort();
        }
        tracing::info!(
            "stopped accepting HTTP connections; waiting for {} open connection(s) to finish",
            graceful.count()
        );
        if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                "in-flight HTTP requests did not finish within {SHUTDOWN_GRACE:?}; closing them"
            );
        }
    }
}

impl<H: ActionHandler> Shared<H> {
    async fn serve_connection(
        self: Arc<Self>,
        stream: TcpStream,
        addr: SocketAddr,
        watcher: Watcher,
    ) {
        let _ = stream.set_nodelay(true);
        match &self.options.tls {
            None => self.serve_http(TokioIo::new(stream), addr, watcher).await,
            Some(tls) => {
                let mut first = [0u8; 1];
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.peek(&mut first)).await {
                    Ok(Ok(1)) if first[0] == TLS_HANDSHAKE_BYTE => {}
                    Ok(Ok(1)) => return answer_plaintext_on_https(stream, addr).await,
                    _ => return,
                }
                let acceptor = tokio_rustls::TlsAcceptor::from(tls.current());
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(tls_stream)) => {
                        self.serve_http(TokioIo::new(tls_stream), addr, watcher)
                            .await
                    }
                    Ok(Err(e)) => tracing::debug!("TLS handshake with {addr} failed: {e}"),
                    Err(_) => tracing::debug!("TLS handshake with {addr} timed out"),
                }
            }
        }
    }

    async fn serve_http<I>(self: Arc<Self>, io: I, addr: SocketAddr, watcher: Watcher)
    where
        I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let shared = Arc::clone(&self);
        let service = hyper::service::service_fn(move |req| {
            let shared = Arc::clone(&shared);
            async move { Ok::<_, std::convert::Infallible>(shared.respond(req, addr).await) }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT);
        let conn = builder.serve_connection(io, service);
        if let Err(e) = watcher.watch(conn).await {
            tracing::debug!("HTTP connection from {addr} ended with an error: {e}");
        }
    }

    async fn respond(&self, req: Request<Incoming>, addr: SocketAddr) -> Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let (path, query) = parse_target(&parts.uri);
        let pretty = query.iter().any(|(k, v)| k == "pretty" && v != "false");
        let filter = query
            .iter()
            .rev()
            .find(|(k, _)| k == "filter_path")
            .map(|(_, v)| v.clone());
        let is_head = parts.method == Method::HEAD;
        let security_endpoint = path.starts_with("/_security");

        let format = match ResponseFormat::negotiate(&parts.headers) {
            Ok(f) => f,
            Err(e) => {
                return self.finish(
                    Err(e),
                    ResponseFormat::Json,
                    pretty,
                    is_head,
                    security_endpoint,
                );
            }
        };
        let context = RequestContext {
            description: format!(
                "REST request [{}]",
                parts.uri.path_and_query().map_or("/", |p| p.as_str())
            ),
            remote_addr: addr,
            run_as: parts
                .headers
                .get(RUN_AS_HEADER)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        };
        // Authenticate from the headers before reading a byte of the body.
        let identity = match self
            .handler
            .authenticate(credentials_from(&parts.headers), &context)
            .await
        {
            Ok(identity) => identity,
            Err(e) => {
                // Read (and discard) a little of an unread body first: closing a socket with
                // unread data resets it, which could swallow the 401 before the client reads it.
                drain_briefly(body).await;
                let mut response = self.finish(Err(e), format, pretty, is_head, security_endpoint);
                close_after(&mut response);
                return response;
            }
        };

        let body = match Limited::new(body, self.options.max_content_length)
            .collect()
            .await
        {
            Ok(collected) => collected.to_bytes(),
            Err(e) => {
                let error = if e
                    .downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    EsError::new(
                        413,
                        "content_too_long_exception",
                        format!(
                            "request body is larger than [http.max_content_length] ({} bytes)",
                            self.options.max_content_length
                        ),
                    )
                } else {
                    EsError::bad_request(format!("cannot read the request body: {e}"))
                };
                let mut response =
                    self.finish(Err(error), format, pretty, is_head, security_endpoint);
                close_after(&mut response);
                return response;
            }
        };
        if !body.is_empty()
            && let Err(e) = check_content_type(&parts.headers)
        {
            return self.finish(Err(e), format, pretty, is_head, security_endpoint);
        }

        let result = match self.routes.route(&parts.method, &path, &query, &body) {
            Routed::Action(action) => self.handler.handle(action, identity, &context).await,
            Routed::Invalid(error) => Err(error),
            Routed::NoRoute => Err(EsError::flat(
                400,
                format!(
                    "no handler found for uri [{}] and method [{}]",
                    parts.uri.path_and_query().map_or("/", |p| p.as_str()),
                    parts.method
                ),
            )),
            Routed::MethodNotAllowed(allowed) => {
                let methods: Vec<&str> = allowed.iter().map(Method::as_str).collect();
                Err(EsError::flat(
                    405,
                    format!(
                        "Incorrect HTTP method for uri [{}] and method [{}], allowed: [{}]",
                        parts.uri.path_and_query().map_or("/", |p| p.as_str()),
                        parts.method,
                        methods.join(", ")
                    ),
                )
                .with_header("allow", methods.join(",")))
            }
        };
        let result = match (result, &filter) {
            (Ok(mut response), Some(filter)) => {
                response.body = crate::filter::filter_path(&response.body, filter);
                Ok(response)
            }
            (other, _) => other,
        };
        self.finish(result, format, pretty, is_head, security_endpoint)
    }

    fn finish(
        &self,
        result: Result<ActionResponse, EsError>,
        format: ResponseFormat,
        pretty: bool,
        is_head: bool,
        security_endpoint: bool,
    ) -> Response<Full<Bytes>> {
        let (status, body, extra_headers, no_store) = match result {
            Ok(ActionResponse {
                status,
                text: Some(text),
                ..
            }) => {
                return self.finish_text(status, text, is_head);
            }
            Ok(response) => (
                response.status,
                response.body,
                Vec::new(),
                security_endpoint,
            ),
            Err(error) => {
                let no_store = security_endpoint || error.status == 401;
                (error.status, error.to_json(), error.headers, no_store)
            }
        };
        let mut bytes = if pretty {
            serde_json::to_vec_pretty(&body)
        } else {
            serde_json::to_vec(&body)
        }
        .unwrap_or_default();
        if pretty {
            bytes.push(b'\n');
        }
        let content_length = bytes.len();
        let mut response = Response::new(Full::new(if is_head {
            Bytes::new()
        } else {
            Bytes::from(bytes)
        }));
        *response.status_mut() =
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, format.content_type());
        if is_head {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(content_length));
        }
        // Official clients refuse to talk to a server that does not name this product.
        headers.insert(
            "x-elastic-product",
            HeaderValue::from_static("Elasticsearch"),
        );
        self.options.security_headers.apply(headers);
        if no_store {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        for (name, value) in extra_headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.append(name, value);
            }
        }
        response
    }
}

impl<H: ActionHandler> Shared<H> {
    /// A plain-text answer (`_cat` APIs), with the same product and security headers.
    fn finish_text(&self, status: u16, text: String, is_head: bool) -> Response<Full<Bytes>> {
        let length = text.len();
        let mut response = Response::new(Full::new(if is_head {
            Bytes::new()
        } else {
            Bytes::from(text)
        }));
        *response.status_mut() =
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=UTF-8"),
        );
        if is_head {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        }
        headers.insert(
            "x-elastic-product",
            HeaderValue::from_static("Elasticsearch"),
        );
        self.options.security_headers.apply(headers);
        response
    }
}

/// Reads at most 1 MiB of a body for at most one second, discarding it.
async fn drain_briefly(body: Incoming) {
    let limited = Limited::new(body, 1 << 20);
    let _ = tokio::time::timeout(Duration::from_secs(1), limited.collect()).await;
}

fn close_after(response: &mut Response<Full<Bytes>>) {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
}

/// Logs at most one plaintext-on-HTTPS warning a minute, with the count since the last one, so
/// a scanner cannot flood the log.
fn warn_plaintext(addr: SocketAddr) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST_WARNED: AtomicU64 = AtomicU64::new(0);
    static SUPPRESSED: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let last = LAST_WARNED.load(Ordering::Relaxed);
    if now >= last.saturating_add(60)
        && LAST_WARNED
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        let suppressed = SUPPRESSED.swap(0, Ordering::Relaxed);
        tracing::warn!(
            "received plaintext HTTP traffic on an HTTPS channel from {addr}: answered with a hint \
             to use https:// and closed the connection ({suppressed} more since the last warning)"
        );
    } else {
        SUPPRESSED.fetch_add(1, Ordering::Relaxed);
    }
}

/// `http://` on the HTTPS port: read the request head, answer with a hint, close. Never served.
async fn answer_plaintext_on_https(mut stream: TcpStream, addr: SocketAddr) {
    warn_plaintext(addr);
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while head.len() < 16 * 1024 && !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    let body = "This is an HTTPS port: Rampart does not serve plain HTTP here.\n\
                Retry with https://, trusting the cluster's CA, for example:\n  \
                curl --cacert config/certs/http_ca.crt -u elastic https://localhost:9200/\n";
    let response = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Elasticsearch's header naming the user a request runs as.
pub const RUN_AS_HEADER: &str = "es-security-runas-user";

/// The decoded path and query parameters of a request target.
pub(crate) fn parse_target(uri: &hyper::Uri) -> (String, Vec<(String, String)>) {
    let path = percent_encoding::percent_decode_str(uri.path())
        .decode_utf8_lossy()
        .into_owned();
    let query = uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    (path, query)
}

pub(crate) fn credentials_from(headers: &hyper::HeaderMap) -> Credentials {
    use base64::Engine;
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Credentials::None;
    };
    let Ok(value) = value.to_str() else {
        return Credentials::Malformed;
    };
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    // A scheme is a short token; anything else (a bare token pasted without one) is malformed,
    // and is never echoed back.
    if scheme.is_empty()
        || scheme.len() > 16
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Credentials::Malformed;
    }
    if scheme.eq_ignore_ascii_case("apikey") {
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(rest.trim()) else {
            return Credentials::Malformed;
        };
        let decoded = Zeroizing::new(decoded);
        return match std::str::from_utf8(&decoded)
            .ok()
            .and_then(|d| d.split_once(':'))
        {
            Some((id, key)) if !id.is_empty() && !key.is_empty() => Credentials::ApiKey {
                id: id.to_string(),
                key: SecretString::from(key),
            },
            _ => Credentials::Malformed,
        };
    }
    if scheme.eq_ignore_ascii_case("bearer") {
        let token = rest.trim();
        if token.is_empty() || token.len() > 4096 {
            return Credentials::Malformed;
        }
        return Credentials::Bearer {
            token: SecretString::from(token),
        };
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return Credentials::Unsupported {
            scheme: scheme.to_string(),
        };
    }
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(rest.trim()) else {
        return Credentials::Malformed;
    };
    let decoded = Zeroizing::new(decoded);
    let Ok(decoded) = std::str::from_utf8(&decoded) else {
        return Credentials::Malformed;
    };
    match decoded.split_once(':') {
        Some((username, password)) if !username.is_empty() => Credentials::Basic {
            username: username.to_string(),
            password: SecretString::from(password),
        },
        _ => Credentials::Malformed,
    }
}

/// The media types Elasticsearch accepts for request bodies.
pub(crate) fn check_content_type(headers: &hyper::HeaderMap) -> Result<(), EsError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(EsError::new(
            406,
            "media_type_header_exception",
            "a request with a body needs a Content-Type header: use application/json",
        ));
    };
    let value = value.to_str().unwrap_or("");
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/json"
        | "application/x-ndjson"
        | "application/vnd.elasticsearch+json"
        | "application/vnd.elasticsearch+x-ndjson" => compatible_with(value).map(|_| ()),
        _ => Err(EsError::new(
            406,
            "media_type_header_exception",
            format!("Content-Type header [{value}] is not supported: use application/json"),
        )),
    }
}

/// The `compatible-with` version of a media type, if it names one; only 7 and 8 are served.
fn compatible_with(value: &str) -> Result<Option<u8>, EsError> {
    for param in value.split(';').skip(1) {
        if let Some((name, v)) = param.split_once('=')
            && name.trim().eq_ignore_ascii_case("compatible-with")
        {
            return match v.trim() {
                "7" => Ok(Some(7)),
                "8" => Ok(Some(8)),
                other => Err(EsError::new(
                    400,
                    "media_type_header_exception",
                    format!(
                        "compatible-with=[{other}] is not supported: Rampart serves the Elasticsearch 8 \
                         REST API (compatible-with=7 or 8)"
                    ),
                )),
            };
        }
    }
    Ok(None)
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum ResponseFormat {
    Json,
    Compatible(u8),
}

impl ResponseFormat {
    pub(crate) fn negotiate(headers: &hyper::HeaderMap) -> Result<Self, EsError> {
        let accept = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        for media in accept.split(',') {
            if media
                .trim()
                .to_ascii_lowercase()
                .starts_with("application/vnd.elasticsearch+json")
                && let Some(version) = compatible_with(media)?
            {
                return Ok(ResponseFormat::Compatible(version));
            }
        }
        Ok(ResponseFormat::Json)
    }

    fn content_type(self) -> HeaderValue {
        match self {
            ResponseFormat::Json => HeaderValue::from_static("application/json"),
            ResponseFormat::Compatible(7) => {
                HeaderValue::from_static("application/vnd.elasticsearch+json;compatible-with=7")
            }
            ResponseFormat::Compatible(_) => {
                HeaderValue::from_static("application/vnd.elasticsearch+json;compatible-with=8")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> hyper::HeaderMap {
        let mut h = hyper::HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).expect("value"));
        }
        h
    }

    #[test]
    fn basic_credentials_are_decoded_and_others_classified() {
        match credentials_from(&headers(&[(
            "authorization",
            "Basic ZWxhc3RpYzpwdzpjb2xvbg==",
        )])) {
            Credentials::Basic { username, password } => {
                assert_eq!(username, "elastic");
                assert_eq!(password.expose(), "pw:colon");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(credentials_from(&headers(&[])), Credentials::None));
        assert!(matches!(
            credentials_from(&headers(&[("authorization", "Bearer abc")])),
            Credentials::Bearer { token } if token.expose() == "abc"
        ));
        assert!(matches!(
            credentials_from(&headers(&[("authorization", "Bearer ")])),
            Credentials::Malformed
        ));
        assert!(matches!(
            credentials_from(&headers(&[("authorization", "Negotiate abc")])),
            Credentials::Unsupported { scheme } if scheme == "Negotiate"
        ));
        assert!(matches!(
            credentials_from(&headers(&[("authorization", "Basic !!!")])),
            Credentials::Malformed
        ));
        // A bare token without a scheme is malformed, not an "unsupported scheme" to echo.
        assert!(matches!(
            credentials_from(&headers(&[("authorization", "ZWxhc3RpYzpzZWNyZXQ=")])),
            Credentials::Malformed
        ));
    }

    #[test]
    fn official_client_media_types_are_accepted() {
        assert!(check_content_type(&headers(&[("content-type", "application/json")])).is_ok());
        assert!(
            check_content_type(&headers(&[(
                "content-type",
                "application/vnd.elasticsearch+json; compatible-with=8"
            )]))
            .is_ok()
        );
        assert_eq!(
            check_content_type(&headers(&[("content-type", "text/plain")])).map_err(|e| e.status),
            Err(406)
        );
        let compat = ResponseFormat::negotiate(&headers(&[(
            "accept",
            "application/vnd.elasticsearch+json; compatible-with=8",
        )]))
        .expect("ok");
        assert_eq!(
            compat.content_type(),
            "application/vnd.elasticsearch+json;compatible-with=8"
        );
        assert!(
            ResponseFormat::negotiate(&headers(&[(
                "accept",
                "application/vnd.elasticsearch+json; compatible-with=9",
            )]))
            .is_err()
        );
    }
}
