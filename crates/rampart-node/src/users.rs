//! The `_security/user` actions, executed against the realms with Elasticsearch's rules:
//! reserved users keep their roles and existence, only their password changes; file users are
//! managed in files; everyone may change their own password.

use rampart_action::{ActionResponse, EsError, PutUserRequest, Secret};
use rampart_security::{
    Authentication, Authenticator, NativeRealm, PutUser, RESERVED_USERS, RealmError,
    ReservedUserStore, SecretString,
};
use serde_json::{Map, Value, json};

fn realm_error(e: RealmError) -> EsError {
    match e {
        RealmError::Invalid(m) => EsError::bad_request(m),
        RealmError::Storage(m) => EsError::new(500, "exception", m),
    }
}

fn not_found(name: &str) -> EsError {
    EsError::new(
        404,
        "resource_not_found_exception",
        format!("user [{name}] not found"),
    )
}

fn native(authenticator: &Authenticator) -> Result<&NativeRealm, EsError> {
    authenticator
        .native_realm()
        .ok_or_else(|| EsError::bad_request("the native realm is not enabled on this node"))
}

fn secret(s: &Secret) -> SecretString {
    SecretString::new(s.expose().to_string())
}

pub fn put(
    authenticator: &Authenticator,
    request: PutUserRequest,
) -> Result<ActionResponse, EsError> {
    let name = request.username;
    if ReservedUserStore::is_reserved(&name) {
        return Err(EsError::bad_request(format!(
            "user [{name}] is reserved and only the password can be changed"
        )));
    }
    let created = native(authenticator)?
        .put_user(
            &name,
            PutUser {
                password: request.password.as_ref().map(secret),
                password_hash: request.password_hash.map(|h| h.expose().to_string()),
                roles: request.roles,
                full_name: request.full_name,
                email: request.email,
                metadata: request.metadata,
                enabled: request.enabled,
            },
        )
        .map_err(realm_error)?;
    authenticator.invalidate(&name);
    Ok(ActionResponse::ok(json!({ "created": created })))
}

fn reserved_json(name: &str, role: &str) -> Value {
    json!({"username": name, "roles": [role], "full_name": null, "email": null,
           "metadata": {"_reserved": true}, "enabled": true})
}

pub fn get(authenticator: &Authenticator, usernames: &[String]) -> Result<ActionResponse, EsError> {
    let native = native(authenticator)?;
    let mut out = Map::new();
    let wanted = |name: &str| usernames.is_empty() || usernames.iter().any(|u| u == name);
    for (name, role) in RESERVED_USERS {
        if wanted(name) {
            out.insert(name.to_string(), reserved_json(name, role));
        }
    }
    for (name, user) in native.all() {
        if wanted(&name) {
            out.insert(
                name.clone(),
                json!({"username": name, "roles": user.roles, "full_name": user.full_name,
                       "email": user.email, "metadata": user.metadata, "enabled": user.enabled}),
            );
        }
    }
    // Asking for named users that do not exist answers 404 with an empty object, as ES does.
    let status = if !usernames.is_empty() && out.is_empty() {
        404
    } else {
        200
    };
    Ok(ActionResponse::with_status(status, Value::Object(out)))
}

pub fn delete(authenticator: &Authenticator, name: &str) -> Result<ActionResponse, EsError> {
    if ReservedUserStore::is_reserved(name) {
        return Err(EsError::bad_request(format!(
            "user [{name}] is reserved and may not be deleted"
        )));
    }
    let found = native(authenticator)?
        .delete_user(name)
        .map_err(realm_error)?;
    authenticator.invalidate(name);
    Ok(ActionResponse::with_status(
        if found { 200 } else { 404 },
        json!({ "found": found }),
    ))
}

pub fn set_enabled(
    authenticator: &Authenticator,
    name: &str,
    enabled: bool,
) -> Result<ActionResponse, EsError> {
    if ReservedUserStore::is_reserved(name) {
        return Err(EsError::bad_request(format!(
            "enabling or disabling the reserved user [{name}] is not supported"
        )));
    }
    if !native(authenticator)?
        .set_enabled(name, enabled)
        .map_err(realm_error)?
    {
        return Err(not_found(name));
    }
    authenticator.invalidate(name);
    Ok(ActionResponse::ok(json!({})))
}

/// Changes `target`'s password (the caller's own when `target` is `None`).
pub fn change_password(
    authenticator: &Authenticator,
    reserved: &ReservedUserStore,
    caller: &Authentication,
    target: Option<&str>,
    password: &Secret,
) -> Result<ActionResponse, EsError> {
    let name = target.unwrap_or(&caller.user.username);
    let password = secret(password);
    if password.expose().chars().count() < 6 {
        return Err(EsError::bad_request(
            "passwords must be at least 6 characters long",
        ));
    }
    if ReservedUserStore::is_reserved(name) {
        reserved
            .set_password(name, &password)
            .map_err(|e| EsError::new(500, "exception", e))?;
    } else if authenticator.is_file_user(name) {
        return Err(EsError::bad_request(format!(
            "user [{name}] belongs to the file realm: change its password with `rampart users passwd {name}`"
        )));
    } else if !native(authenticator)?
        .change_password(name, &password)
        .map_err(realm_error)?
    {
        // Elasticsearch answers 400 here, not 404.
        return Err(EsError::bad_request(format!(
            "user [{name}] does not exist"
        )));
    }
    authenticator.invalidate(name);
    Ok(ActionResponse::ok(json!({})))
}
