//! `POST|DELETE /_security/oauth2/token`: issuing bearer tokens by grant and invalidating them.

use rampart_action::{ActionResponse, ApiKeyGrant, EsError, InvalidateTokens, TokenGrant};
use rampart_security::{Authentication, Authenticator, Credentials, RefreshError, TokenStore};
use serde_json::json;

use crate::pipeline::authentication_json;

fn store(authenticator: &Authenticator) -> Result<&TokenStore, EsError> {
    authenticator.tokens().ok_or_else(|| {
        EsError::bad_request(
            "bearer tokens are disabled ([xpack.security.authc.token.enabled: false])",
        )
    })
}

fn storage(e: impl std::fmt::Display) -> EsError {
    EsError::new(500, "exception", format!("cannot store the token: {e}"))
}

fn invalid_grant(reason: &str) -> EsError {
    EsError::new(400, "invalid_grant", reason)
}

/// Issues a token for `grant`. A password grant's failure is reported to the caller as
/// Elasticsearch does, without saying whether the user exists; the caller (the pipeline)
/// counts it toward failed-login throttling.
pub fn create(
    authenticator: &Authenticator,
    caller: &Authentication,
    grant: TokenGrant,
) -> Result<ActionResponse, EsError> {
    let tokens = store(authenticator)?;
    let (owner, refreshable) = match grant {
        TokenGrant::Password { username, password } => {
            let credentials = Credentials::Basic {
                username: username.clone(),
                password: password.expose().into(),
            };
            let owner = authenticator.authenticate(&credentials).map_err(|_| {
                EsError::new(
                    401,
                    "security_exception",
                    format!("failed to authenticate user [{username}]"),
                )
            })?;
            (owner, true)
        }
        TokenGrant::ClientCredentials => {
            if caller.api_key.is_some() || caller.authentication_type == "token" {
                return Err(EsError::bad_request(
                    "the client_credentials grant needs a user's own credentials, not an API key \
                     or a token",
                ));
            }
            (caller.clone(), false)
        }
        TokenGrant::RefreshToken { refresh_token } => {
            let previous = tokens
                .redeem_refresh(&refresh_token.expose().into())
                .map_err(|e| match e {
                    RefreshError::InvalidGrant(reason) => invalid_grant(reason),
                    RefreshError::Storage(e) => storage(e),
                })?;
            let owner = authenticator
                .token_owner(&previous.username, &previous.realm)
                .ok_or_else(|| invalid_grant("the token's user no longer exists or is disabled"))?;
            (owner, true)
        }
    };
    let issued = tokens
        .issue(&owner.user.username, owner.lookup_realm.name, refreshable)
        .map_err(storage)?;
    let mut body = json!({
        "access_token": issued.access_token.expose(),
        "type": "Bearer",
        "expires_in": issued.expires_in.as_secs(),
        "authentication": authentication_json(&Authentication {
            authentication_type: "token",
            ..owner
        }),
    });
    if let Some(refresh) = &issued.refresh_token {
        body["refresh_token"] = json!(refresh.expose());
    }
    Ok(ActionResponse::ok(body))
}

/// The user an API key grant proves: by password (throttled by the caller like a login) or
/// by a bearer token.
pub fn authenticate_grant(
    authenticator: &Authenticator,
    grant: ApiKeyGrant,
) -> Result<Authentication, EsError> {
    let (credentials, who) = match grant {
        ApiKeyGrant::Password { username, password } => (
            Credentials::Basic {
                username: username.clone(),
                password: password.expose().into(),
            },
            format!("user [{username}]"),
        ),
        ApiKeyGrant::AccessToken { token } => (
            Credentials::Bearer {
                token: token.expose().into(),
            },
            "the given access token".to_string(),
        ),
    };
    authenticator.authenticate(&credentials).map_err(|_| {
        EsError::new(
            401,
            "security_exception",
            format!("failed to authenticate {who}"),
        )
    })
}

pub fn invalidate(
    authenticator: &Authenticator,
    request: InvalidateTokens,
) -> Result<ActionResponse, EsError> {
    let tokens = store(authenticator)?;
    let access = request.token.map(|t| t.expose().into());
    let refresh = request.refresh_token.map(|t| t.expose().into());
    let (newly, previously) = tokens
        .invalidate(
            access.as_ref(),
            refresh.as_ref(),
            request.username.as_deref(),
            request.realm_name.as_deref(),
        )
        .map_err(storage)?;
    Ok(ActionResponse::ok(json!({
        "invalidated_tokens": newly,
        "previously_invalidated_tokens": previously,
        "error_count": 0,
    })))
}
