//! Authorization: may this authenticated identity run this action on these indices?
//! Roles map to cluster and index privileges; today the only role with privileges is
//! `superuser`, and the authorization issue brings the full role model.

use crate::Authentication;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthzError {
    pub reason: String,
}

/// `GET /_security/_authenticate`: every authenticated identity may ask who it is.
pub const AUTHENTICATE_ACTION: &str = "cluster:admin/xpack/security/user/authenticate";

/// Roles that grant every action on every index, including restricted ones.
const ALL_PRIVILEGE_ROLES: &[&str] = &["superuser"];

pub fn authorize(
    authentication: &Authentication,
    action: &str,
    _indices: &[String],
) -> Result<(), AuthzError> {
    if action == AUTHENTICATE_ACTION {
        return Ok(());
    }
    let roles = &authentication.user.roles;
    if roles
        .iter()
        .any(|r| ALL_PRIVILEGE_ROLES.contains(&r.as_str()))
    {
        return Ok(());
    }
    Err(AuthzError {
        reason: format!(
            "action [{action}] is unauthorized for user [{}] with effective roles [{}]",
            authentication.user.username,
            roles.join(",")
        ),
    })
}

/// May `authenticated` act as `target` (`es-security-runas-user`)? Elasticsearch's `run_as`
/// privilege; today only `superuser` holds it (for every user), and API keys never do.
pub fn authorize_run_as(authenticated: &Authentication, target: &str) -> Result<(), AuthzError> {
    let roles = &authenticated.user.roles;
    if authenticated.api_key.is_none()
        && roles
            .iter()
            .any(|r| ALL_PRIVILEGE_ROLES.contains(&r.as_str()))
    {
        return Ok(());
    }
    Err(AuthzError {
        reason: format!(
            "action [run_as] is unauthorized for user [{}] with effective roles [{}], because user \
             [{}] is unauthorized to run as [{target}]",
            authenticated.user.username,
            roles.join(","),
            authenticated.user.username
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authc::RESERVED_REALM;
    use crate::{Authentication, User};

    fn with_roles(roles: &[&str]) -> Authentication {
        Authentication {
            user: User {
                username: "u".into(),
                roles: roles.iter().map(|r| r.to_string()).collect(),
                full_name: None,
                email: None,
                metadata: serde_json::json!({}),
                enabled: true,
            },
            authentication_realm: RESERVED_REALM,
            lookup_realm: RESERVED_REALM,
            authentication_type: "realm",
            api_key: None,
            authenticating_user: None,
        }
    }

    #[test]
    fn superuser_may_do_anything_and_others_are_denied_with_the_action_named() {
        assert!(authorize(&with_roles(&["superuser"]), "cluster:monitor/main", &[]).is_ok());
        let err = authorize(&with_roles(&["kibana_system"]), "cluster:monitor/main", &[])
            .expect_err("denied");
        assert_eq!(
            err.reason,
            "action [cluster:monitor/main] is unauthorized for user [u] with effective roles [kibana_system]"
        );
    }
}
