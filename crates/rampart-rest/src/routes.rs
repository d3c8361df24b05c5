//! Elasticsearch's REST routes, each translated into an [`ActionRequest`].

use hyper::Method;
use rampart_action::{ActionRequest, EsError};

/// Query parameters every route accepts, as in Elasticsearch.
const GLOBAL_PARAMS: &[&str] = &["pretty", "human", "error_trace"];

type Build = fn(&matchit::Params<'_, '_>, &[(String, String)]) -> ActionRequest;

struct Endpoint {
    method: Method,
    params: &'static [&'static str],
    accepts_body: bool,
    build: Build,
}

pub(crate) enum Routed {
    Action(ActionRequest),
    NoRoute,
    MethodNotAllowed(Vec<Method>),
    Invalid(EsError),
}

pub(crate) struct Routes {
    router: matchit::Router<Vec<Endpoint>>,
}

fn index_list(params: &matchit::Params<'_, '_>) -> Vec<String> {
    params
        .get("index")
        .map(|s| {
            s.split(',')
                .filter(|i| !i.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

const HEALTH_PARAMS: &[&str] = &[
    "level",
    "local",
    "master_timeout",
    "timeout",
    "wait_for_status",
];

impl Routes {
    pub(crate) fn new() -> Self {
        let mut router = matchit::Router::new();
        let main = |method| Endpoint {
            method,
            params: &[],
            accepts_body: false,
            build: |_, _| ActionRequest::MainInfo,
        };
        let health = || Endpoint {
            method: Method::GET,
            params: HEALTH_PARAMS,
            accepts_body: false,
            build: |p, _| ActionRequest::ClusterHealth {
                indices: index_list(p),
            },
        };
        let routes: Vec<(&str, Vec<Endpoint>)> = vec![
            ("/", vec![main(Method::GET), main(Method::HEAD)]),
            ("/_cluster/health", vec![health()]),
            ("/_cluster/health/{index}", vec![health()]),
        ];
        for (path, endpoints) in routes {
            if let Err(e) = router.insert(path, endpoints) {
                unreachable!("route table is static and conflict-free: {path}: {e}");
            }
        }
        Routes { router }
    }

    pub(crate) fn route(
        &self,
        method: &Method,
        path: &str,
        query: &[(String, String)],
        body_len: usize,
    ) -> Routed {
        let Ok(matched) = self.router.at(path) else {
            return Routed::NoRoute;
        };
        let Some(endpoint) = matched.value.iter().find(|e| e.method == *method) else {
            return Routed::MethodNotAllowed(
                matched.value.iter().map(|e| e.method.clone()).collect(),
            );
        };
        for (name, _) in query {
            if !GLOBAL_PARAMS.contains(&name.as_str()) && !endpoint.params.contains(&name.as_str())
            {
                return Routed::Invalid(EsError::bad_request(format!(
                    "request [{path}] contains unrecognized parameter: [{name}]"
                )));
            }
        }
        if body_len > 0 && !endpoint.accepts_body {
            return Routed::Invalid(EsError::bad_request(format!(
                "request [{method} {path}] does not support having a body"
            )));
        }
        Routed::Action((endpoint.build)(&matched.params, query))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: Method, path: &str, query: &[(&str, &str)]) -> Routed {
        let q: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Routes::new().route(&method, path, &q, 0)
    }

    #[test]
    fn routes_become_actions() {
        assert!(matches!(
            route(Method::GET, "/", &[]),
            Routed::Action(ActionRequest::MainInfo)
        ));
        assert!(matches!(
            route(Method::HEAD, "/", &[("pretty", "")]),
            Routed::Action(ActionRequest::MainInfo)
        ));
        match route(
            Method::GET,
            "/_cluster/health/a,b",
            &[("wait_for_status", "green")],
        ) {
            Routed::Action(ActionRequest::ClusterHealth { indices }) => {
                assert_eq!(indices, ["a", "b"])
            }
            _ => panic!("expected health"),
        }
    }

    #[test]
    fn unknown_paths_methods_and_params_are_distinguished() {
        assert!(matches!(
            route(Method::GET, "/_nope/x/y", &[]),
            Routed::NoRoute
        ));
        assert!(
            matches!(route(Method::DELETE, "/", &[]), Routed::MethodNotAllowed(m) if m.len() == 2)
        );
        match route(Method::GET, "/", &[("bogus", "1")]) {
            Routed::Invalid(e) => assert_eq!(
                e.reason,
                "request [/] contains unrecognized parameter: [bogus]"
            ),
            _ => panic!("expected invalid"),
        }
        assert!(matches!(
            Routes::new().route(&Method::GET, "/", &[], 3),
            Routed::Invalid(_)
        ));
    }
}
