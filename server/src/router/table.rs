//! The route table's bookkeeping: every route is added together with the permission it needs,
//! so that none can be added without one; [`Permissions`] is what the guard looks each request
//! up in. A route the guard finds no permission for is refused to everyone.

use std::collections::HashMap;
use std::convert::Infallible;

use axum::Router;
use axum::extract::Request;
use axum::handler::Handler;
use axum::http::Method;
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, Route};
use tower::{Layer, Service};

use crate::auth::access::Permission;
use crate::state::AppState;

/// What serves a route: the HTTP API, a page of the web app, or one of its server functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Api,
    Page,
    ServerFn,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Api => "api",
            Kind::Page => "page",
            Kind::ServerFn => "server_fn",
        }
    }
}

/// A route: its method and path as registered (`/api/v1/dashboards/{uid}`).
pub(crate) type RouteKey = (Method, String);

/// The permission each route needs, and the routes registered without one.
#[derive(Default)]
pub(crate) struct Permissions {
    declared: HashMap<RouteKey, (Permission, Kind)>,
    undeclared: Vec<(RouteKey, Kind)>,
}

impl Permissions {
    /// What `method` on the route `path` needs (HEAD is GET's).
    pub(crate) fn get(&self, method: &Method, path: &str) -> Option<(Permission, Kind)> {
        let method = if method == Method::HEAD {
            Method::GET
        } else {
            method.clone()
        };
        self.declared.get(&(method, path.to_owned())).copied()
    }

    pub(crate) fn declare(&mut self, key: RouteKey, permission: Option<Permission>, kind: Kind) {
        match permission {
            Some(permission) => {
                let previous = self.declared.insert(key.clone(), (permission, kind));
                assert!(previous.is_none(), "route {key:?} declared twice");
            }
            None => self.undeclared.push((key, kind)),
        }
    }

    /// Every route, by path then method: its permission, `None` when it has none (and is
    /// refused to everyone).
    pub(crate) fn routes(&self) -> Vec<(RouteKey, Kind, Option<Permission>)> {
        let mut all: Vec<_> = self
            .declared
            .iter()
            .map(|(key, (permission, kind))| (key.clone(), *kind, Some(*permission)))
            .chain(
                self.undeclared
                    .iter()
                    .map(|(key, kind)| (key.clone(), *kind, None)),
            )
            .collect();
        all.sort_by(|a, b| (&a.0.1, a.0.0.as_str()).cmp(&(&b.0.1, b.0.0.as_str())));
        all
    }

    fn merge(&mut self, other: Permissions) {
        for (key, (permission, kind)) in other.declared {
            self.declare(key, Some(permission), kind);
        }
        self.undeclared.extend(other.undeclared);
    }
}

/// A router whose every route has a declared permission.
pub(crate) struct Routes {
    router: Router<AppState>,
    permissions: Permissions,
}

impl Routes {
    pub(crate) fn new() -> Routes {
        Routes {
            router: Router::new(),
            permissions: Permissions::default(),
        }
    }

    fn add(
        mut self,
        method: Method,
        path: &'static str,
        permission: Permission,
        route: MethodRouter<AppState>,
    ) -> Routes {
        self.permissions
            .declare((method, path.to_owned()), Some(permission), Kind::Api);
        self.router = self.router.route(path, route);
        self
    }

    pub(crate) fn get<H, T>(self, path: &'static str, permission: Permission, handler: H) -> Routes
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add(Method::GET, path, permission, axum::routing::get(handler))
    }

    pub(crate) fn post<H, T>(self, path: &'static str, permission: Permission, handler: H) -> Routes
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add(Method::POST, path, permission, axum::routing::post(handler))
    }

    pub(crate) fn put<H, T>(self, path: &'static str, permission: Permission, handler: H) -> Routes
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add(Method::PUT, path, permission, axum::routing::put(handler))
    }

    pub(crate) fn delete<H, T>(
        self,
        path: &'static str,
        permission: Permission,
        handler: H,
    ) -> Routes
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add(
            Method::DELETE,
            path,
            permission,
            axum::routing::delete(handler),
        )
    }

    /// Wraps the routes added so far in `layer` (a body limit, decompression).
    pub(crate) fn layer<L>(mut self, layer: L) -> Routes
    where
        L: Layer<Route> + Clone + Send + Sync + 'static,
        L::Service: Service<Request> + Clone + Send + Sync + 'static,
        <L::Service as Service<Request>>::Response: IntoResponse + 'static,
        <L::Service as Service<Request>>::Error: Into<Infallible> + 'static,
        <L::Service as Service<Request>>::Future: Send + 'static,
    {
        self.router = self.router.layer(layer);
        self
    }

    pub(crate) fn merge(mut self, other: Routes) -> Routes {
        self.router = self.router.merge(other.router);
        self.permissions.merge(other.permissions);
        self
    }

    pub(crate) fn into_parts(self) -> (Router<AppState>, Permissions) {
        (self.router, self.permissions)
    }
}
