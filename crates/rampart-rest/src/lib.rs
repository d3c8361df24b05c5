//! The HTTP layer: an HTTPS (or, when told, plain HTTP) server on hyper and tokio-rustls that
//! turns Elasticsearch REST calls into actions and actions' results into Elasticsearch
//! responses, with the security headers every response carries.
//!
//! It owns routes, query parameters, content types, the answer to plaintext on the HTTPS port
//! and the response shapes. It must never execute anything itself: every route becomes an
//! [`ActionRequest`] handed to the [`ActionHandler`], the node's pipeline, which authenticates
//! and authorizes before anything runs.
#![forbid(unsafe_code)]

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
}

/// The node's request pipeline as the REST layer sees it.
pub trait ActionHandler: Send + Sync + 'static {
    /// Authenticates, authorizes and executes one action.
    fn handle(
        &self,
        request: ActionRequest,
        credentials: Credentials,
        context: RequestContext,
    ) -> impl Future<Output = Result<ActionResponse, EsError>> + Send;

    /// Authenticates only: for requests that match no route, so an unauthenticated caller
    /// learns nothing about which endpoints exist.
    fn authenticate_only(
        &self,
        credentials: Credentials,
        context: RequestContext,
    ) -> impl Future<Output = Result<(), EsError>> + Send;
}
