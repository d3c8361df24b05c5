//! The HTTP layer: an HTTPS (or, when told, plain HTTP) server on hyper and tokio-rustls that
//! turns Elasticsearch REST calls into actions and actions' results into Elasticsearch
//! responses, with the security headers every response carries.
//!
//! It owns routes, query parameters, content types, the answer to plaintext on the HTTPS port
//! and the response shapes. It must never execute anything itself: every route becomes an
//! [`ActionRequest`] handed to the [`ActionHandler`], the node's pipeline, which authenticates
//! and authorizes before anything runs.
#![forbid(unsafe_code)]

mod data_routes;
mod filter;
mod headers;
mod routes;
mod server;

use std::future::Future;

pub use headers::SecurityHeaders;
pub use rampart_action::{ActionRequest, ActionResponse, EsError};
pub use rampart_security::Credentials;
pub use server::{HttpServer, HttpServerOptions};

/// How a request is described in security messages, e.g. `REST request [/_cluster/health]`.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub description: String,
    pub remote_addr: std::net::SocketAddr,
    /// The `es-security-runas-user` header, when sent.
    pub run_as: Option<String>,
}

/// The node's request pipeline as the REST layer sees it.
///
/// The REST layer authenticates a request from its headers before reading its body (as
/// Elasticsearch validates headers before aggregating content), then hands the routed action
/// with the resulting identity to [`ActionHandler::handle`], which authorizes and executes.
/// `Identity` is opaque here: only the pipeline can mint one, so nothing reaches `handle`
/// unauthenticated.
pub trait ActionHandler: Send + Sync + 'static {
    type Identity: Send + 'static;

    fn authenticate(
        &self,
        credentials: Credentials,
        context: &RequestContext,
    ) -> impl Future<Output = Result<Self::Identity, EsError>> + Send;

    /// Authorizes and executes one action for an authenticated identity.
    fn handle(
        &self,
        request: ActionRequest,
        identity: Self::Identity,
        context: &RequestContext,
    ) -> impl Future<Output = Result<ActionResponse, EsError>> + Send;
}

/// Entry points for the fuzz targets in `fuzz/`: every parser here that sees a client's bytes
/// before authentication. Not an API.
#[doc(hidden)]
pub mod fuzzing {
    use hyper::header::{HeaderMap, HeaderValue};

    /// Parses a request head the way the server does, up to the action it would route to.
    pub fn request_head(
        method: &[u8],
        target: &[u8],
        authorization: &[u8],
        content_type: &[u8],
        accept: &[u8],
    ) {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("authorization", authorization),
            ("content-type", content_type),
            ("accept", accept),
        ] {
            if let Ok(value) = HeaderValue::from_bytes(value) {
                headers.insert(name, value);
            }
        }
        let _ = crate::server::credentials_from(&headers);
        let _ = crate::server::check_content_type(&headers);
        let _ = crate::server::ResponseFormat::negotiate(&headers);
        let (Ok(method), Ok(uri)) = (
            hyper::Method::from_bytes(method),
            hyper::Uri::try_from(target),
        ) else {
            return;
        };
        let (path, query) = crate::server::parse_target(&uri);
        let _ = crate::routes::Routes::new().route(&method, &path, &query, &[]);
    }

    /// Parses an `_msearch` body; every search it accepts has a body that is JSON.
    pub fn msearch_body(body: &[u8]) {
        let _ = crate::data_routes::parse_msearch(Some("default"), body);
    }

    /// Parses a `_bulk` body; every item it accepts must name an index and, but for an
    /// auto-generated id, an id.
    pub fn bulk_body(body: &[u8]) {
        if let Ok(items) = crate::data_routes::parse_bulk(Some("default"), body) {
            assert!(!items.is_empty(), "an accepted bulk body has items");
            for item in items {
                if let rampart_action::data::BulkItem::Write(write) = item {
                    assert!(!write.index.is_empty(), "an item without an index");
                    if write.write.op_name() != "index" && write.write.op_name() != "create" {
                        assert!(
                            write.write.id().is_some(),
                            "an update or delete without an id"
                        );
                    }
                }
            }
        }
    }
}
