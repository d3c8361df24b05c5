//! The `_security/api_key` actions: create for the caller, get and invalidate by selector.

use base64::Engine;
use rampart_action::{ActionResponse, ApiKeySelector, CreateApiKeyRequest, EsError};
use rampart_security::{ApiKeyFilter, ApiKeyStore, Authentication, RealmError};
use serde_json::json;

fn store_error(e: RealmError) -> EsError {
    match e {
        RealmError::Invalid(m) => EsError::bad_request(m),
        RealmError::Storage(m) => EsError::new(500, "exception", m),
    }
}

fn filter(selector: ApiKeySelector, caller: &Authentication) -> ApiKeyFilter {
    let (username, realm) = if selector.owner {
        (
            Some(caller.user.username.clone()),
            Some(caller.lookup_realm.name.to_string()),
        )
    } else {
        (selector.username, selector.realm_name)
    };
    ApiKeyFilter {
        ids: selector.ids,
        name: selector.name,
        username,
        realm,
    }
}

pub fn create(
    store: &ApiKeyStore,
    caller: &Authentication,
    request: CreateApiKeyRequest,
) -> Result<ActionResponse, EsError> {
    if caller.api_key.is_some() {
        return Err(EsError::bad_request(
            "an API key cannot create API keys: authenticate as the user who should own the new key",
        ));
    }
    let created = store
        .create(
            &request.name,
            request.expiration,
            request.role_descriptors,
            request.metadata,
            &caller.user.username,
            // The realm that holds the owner (under run_as, the target's, not the caller's).
            caller.lookup_realm.name,
        )
        .map_err(store_error)?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        created.id,
        created.key.expose()
    ));
    let mut body = json!({
        "id": created.id,
        "name": request.name,
        "api_key": created.key.expose(),
        "encoded": encoded,
    });
    if let Some(expiration) = created.expiration {
        body["expiration"] = json!(expiration);
    }
    Ok(ActionResponse::ok(body))
}

pub fn get(
    store: &ApiKeyStore,
    realm_type: impl Fn(&str) -> Option<&'static str>,
    caller: &Authentication,
    selector: ApiKeySelector,
) -> Result<ActionResponse, EsError> {
    let keys: Vec<_> = store
        .find(&filter(selector, caller))
        .into_iter()
        .map(|(id, k)| {
            // A realm since removed from the configuration keeps its name as its type.
            let realm_type = realm_type(&k.realm).unwrap_or(k.realm.as_str()).to_string();
            let mut key = json!({
                "id": id, "name": k.name, "type": "rest", "creation": k.creation,
                "invalidated": k.invalidated, "username": k.username, "realm": k.realm,
                "realm_type": realm_type, "metadata": k.metadata,
                "role_descriptors": k.role_descriptors,
            });
            if let Some(expiration) = k.expiration {
                key["expiration"] = json!(expiration);
            }
            key
        })
        .collect();
    Ok(ActionResponse::ok(json!({ "api_keys": keys })))
}

pub fn invalidate(
    store: &ApiKeyStore,
    caller: &Authentication,
    selector: ApiKeySelector,
) -> Result<ActionResponse, EsError> {
    let (newly, previously) = store
        .invalidate(&filter(selector, caller))
        .map_err(store_error)?;
    Ok(ActionResponse::ok(json!({
        "invalidated_api_keys": newly,
        "previously_invalidated_api_keys": previously,
        "error_count": 0,
    })))
}
