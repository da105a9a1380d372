//! The router: every API route with the methods it accepts, JSON 404/405 for the rest, and
//! the per-request layer of [`access_log`](crate::access_log). Kept apart from
//! [`serve`](crate::server::serve) so tests can drive it directly.

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::{delete, get, post};

use crate::access_log::around_request;
use crate::error::ApiError;
use crate::handlers::{
    bulk_delete, delete as delete_key, get as get_key, lookup, monitoring, nobucket_upload, ping,
    redirect, stat, static_file, upload,
};
use crate::state::AppState;

/// Builds the proxy's router over `state`.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route(
            "/upload/{*target}",
            post(upload::upload).put(upload::upload),
        )
        .route(
            "/nobucket_upload/{*key}",
            post(nobucket_upload::nobucket_upload).put(nobucket_upload::nobucket_upload),
        )
        .route("/get/{*target}", get(get_key::get))
        .route("/lookup/{*target}", get(lookup::lookup))
        .route("/redirect/{*target}", get(redirect::redirect))
        .route(
            "/delete/{*target}",
            post(delete_key::delete)
                .put(delete_key::delete)
                .merge(delete(delete_key::delete)),
        )
        .route(
            "/bulk_delete/{*target}",
            post(bulk_delete::bulk_delete).put(bulk_delete::bulk_delete),
        )
        .route("/ping", get(ping::ping))
        .route("/ping/", get(ping::ping))
        .route("/stat", get(stat::stat))
        .route("/stat/", get(stat::stat))
        .route("/stat/{*names}", get(stat::stat))
        .route("/proxy_stat", get(monitoring::proxy_stat))
        .route("/proxy_stat/", get(monitoring::proxy_stat))
        .route("/metrics", get(monitoring::metrics))
        .route("/healthz", get(ping::healthz))
        .route("/readyz", get(ping::readyz))
        .fallback(static_file::static_file)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(state.clone(), around_request))
        .with_state(state)
}

async fn method_not_allowed(method: http::Method) -> ApiError {
    ApiError::MethodNotAllowed(method.to_string())
}
