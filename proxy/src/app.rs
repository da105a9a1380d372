//! The router: a handler and its methods for every [`Endpoint`] of the route table, mounted
//! on the endpoint's paths, JSON 404/405 for the rest, and the per-request layer of
//! [`access_log`](crate::access_log). Kept apart from [`serve`](crate::server::serve) so
//! tests can drive it directly.

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::{MethodRouter, delete, get, post};

use crate::access_log::around_request;
use crate::endpoint::Endpoint;
use crate::error::ApiError;
use crate::handlers::{
    bucket_admin, bucket_directory, bulk_delete, delete as delete_key, get as get_key, list,
    lookup, monitoring, nobucket_upload, ping, readable_buckets, redirect, stat, static_file,
    upload,
};
use crate::state::AppState;

/// Builds the proxy's router over `state`.
pub fn app(state: AppState) -> Router {
    Endpoint::ALL
        .iter()
        .fold(Router::new(), |router, &endpoint| mount(router, endpoint))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(state.clone(), around_request))
        .with_state(state)
}

/// Adds `endpoint`'s handler on each of its paths ([`Endpoint::Static`]: the fallback).
fn mount(router: Router<AppState>, endpoint: Endpoint) -> Router<AppState> {
    let methods: MethodRouter<AppState> = match endpoint {
        Endpoint::Upload => post(upload::upload).put(upload::upload),
        Endpoint::NobucketUpload => {
            post(nobucket_upload::nobucket_upload).put(nobucket_upload::nobucket_upload)
        }
        Endpoint::Get => get(get_key::get),
        Endpoint::List => get(list::list),
        Endpoint::Lookup => get(lookup::lookup),
        Endpoint::Redirect => get(redirect::redirect),
        Endpoint::Delete => post(delete_key::delete)
            .put(delete_key::delete)
            .merge(delete(delete_key::delete)),
        Endpoint::BulkDelete => post(bulk_delete::bulk_delete).put(bulk_delete::bulk_delete),
        Endpoint::UpdateBucketDirectory => post(bucket_directory::update_bucket_directory),
        Endpoint::ListBucketDirectory => get(bucket_directory::list_bucket_directory),
        Endpoint::DeleteBucketDirectory => post(bucket_directory::delete_bucket_directory),
        Endpoint::UpdateBucket => post(bucket_admin::update_bucket),
        Endpoint::ReadBucket => get(bucket_admin::read_bucket_handler),
        Endpoint::DeleteBucket => post(bucket_admin::delete_bucket),
        Endpoint::Buckets => get(readable_buckets::buckets),
        Endpoint::Ping => get(ping::ping),
        Endpoint::Stat => get(stat::stat),
        Endpoint::ProxyStat => get(monitoring::proxy_stat),
        Endpoint::Metrics => get(monitoring::metrics),
        Endpoint::Healthz => get(ping::healthz),
        Endpoint::Readyz => get(ping::readyz),
        Endpoint::Static => return router.fallback(static_file::static_file),
    };
    endpoint
        .routes()
        .iter()
        .fold(router, |router, path| router.route(path, methods.clone()))
}

async fn method_not_allowed(method: http::Method) -> ApiError {
    ApiError::MethodNotAllowed(method.to_string())
}
