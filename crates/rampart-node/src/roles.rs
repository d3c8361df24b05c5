//! The role APIs (`/_security/role`) and the privilege questions a user may ask about
//! themselves (`_has_privileges`, `_privileges`), with Elasticsearch's response shapes.

use rampart_action::{ActionRequest, ActionResponse, EsError};
use rampart_security::{Authentication, Authorizer, RealmError, RoleSource};
use serde_json::{Map, Value, json};

fn realm_error(e: RealmError) -> EsError {
    match e {
        RealmError::Invalid(reason) => EsError::bad_request(reason),
        RealmError::Storage(reason) => EsError::new(500, "exception", reason),
    }
}

pub fn execute(
    authorizer: &Authorizer,
    caller: Option<&Authentication>,
    request: ActionRequest,
) -> Result<ActionResponse, EsError> {
    let roles = authorizer.roles();
    match request {
        ActionRequest::PutRole { name, body } => {
            let created = roles.put_native(&name, &body).map_err(realm_error)?;
            Ok(ActionResponse::ok(json!({"role": {"created": created}})))
        }
        ActionRequest::GetRoles { names } => {
            let found = roles.get(&names);
            let mut out = Map::new();
            for (name, source, descriptor) in &found {
                let mut body = descriptor.to_json();
                if *source == RoleSource::Builtin {
                    body["metadata"]["_reserved"] = json!(true);
                }
                out.insert(name.clone(), body);
            }
            let status = if out.is_empty() && !names.is_empty() {
                404
            } else {
                200
            };
            Ok(ActionResponse::with_status(status, Value::Object(out)))
        }
        ActionRequest::DeleteRole { name } => {
            let found = roles.delete_native(&name).map_err(realm_error)?;
            Ok(ActionResponse::with_status(
                if found { 200 } else { 404 },
                json!({"found": found}),
            ))
        }
        ActionRequest::HasPrivileges { cluster, index } => {
            let caller = caller.ok_or_else(|| EsError::bad_request("no authenticated user"))?;
            let permissions = authorizer.permissions(caller);
            let mut all = true;
            let mut cluster_out = Map::new();
            for privilege in cluster {
                let held = permissions
                    .holds_cluster_privilege(&privilege)
                    .map_err(EsError::bad_request)?;
                all &= held;
                cluster_out.insert(privilege, json!(held));
            }
            let mut index_out = Map::new();
            for (names, privileges) in index {
                for name in names {
                    let entry = index_out.entry(name.clone()).or_insert_with(|| json!({}));
                    for privilege in &privileges {
                        let held = permissions
                            .holds_index_privilege(&name, privilege)
                            .map_err(EsError::bad_request)?;
                        all &= held;
                        entry[privilege.as_str()] = json!(held);
                    }
                }
            }
            Ok(ActionResponse::ok(json!({
                "username": caller.user.username,
                "has_all_requested": all,
                "cluster": cluster_out,
                "index": index_out,
                "application": {},
            })))
        }
        ActionRequest::GetUserPrivileges => {
            let caller = caller.ok_or_else(|| EsError::bad_request("no authenticated user"))?;
            let descriptors = roles.get(&caller.user.roles);
            let mut cluster: Vec<String> = Vec::new();
            let mut indices = Vec::new();
            let mut run_as: Vec<String> = Vec::new();
            for (_, _, d) in descriptors {
                cluster.extend(d.cluster.iter().cloned());
                run_as.extend(d.run_as.iter().cloned());
                for entry in &d.indices {
                    indices.push(json!({
                        "names": entry.names,
                        "privileges": entry.privileges,
                        "allow_restricted_indices": entry.allow_restricted_indices,
                    }));
                }
            }
            cluster.sort();
            cluster.dedup();
            run_as.sort();
            run_as.dedup();
            Ok(ActionResponse::ok(json!({
                "cluster": cluster,
                "global": [],
                "indices": indices,
                "applications": [],
                "run_as": run_as,
            })))
        }
        _ => Err(EsError::new(500, "exception", "not a role action")),
    }
}
