//! The route table: every endpoint of the HTTP API once, with the first path segment that
//! names it, the router paths it answers on, and its label in metrics, `/proxy_stat` and
//! the access log. [`app`](crate::app::app) mounts a handler per endpoint (an exhaustive
//! `match`, so a new endpoint without a handler does not compile), the access-log layer
//! labels a request with [`Endpoint::of_path`], and the bucket/key handlers strip
//! [`Endpoint::strip_prefix`] from the path.

/// Declares [`Endpoint`] and its table in one place.
macro_rules! endpoints {
    ($(
        $(#[$doc:meta])*
        $variant:ident: segment $segment:literal, label $label:literal, routes [$($route:literal),*];
    )*) => {
        /// An endpoint of the HTTP API (see the module docs).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Endpoint {
            $($(#[$doc])* $variant,)*
        }

        impl Endpoint {
            /// Every endpoint, in table order.
            pub const ALL: &'static [Endpoint] = &[$(Endpoint::$variant),*];

            /// The first path segment naming the endpoint (`""` for [`Endpoint::Static`]).
            pub const fn segment(self) -> &'static str {
                match self {
                    $(Endpoint::$variant => $segment,)*
                }
            }

            /// The label in metrics, `/proxy_stat` and the access log.
            pub const fn label(self) -> &'static str {
                match self {
                    $(Endpoint::$variant => $label,)*
                }
            }

            /// The router paths the endpoint answers on (none for [`Endpoint::Static`], the
            /// router's fallback).
            pub const fn routes(self) -> &'static [&'static str] {
                match self {
                    $(Endpoint::$variant => &[$($route),*],)*
                }
            }
        }
    };
}

endpoints! {
    /// `POST|PUT /upload/{bucket}/{key}`.
    Upload: segment "upload", label "upload", routes ["/upload/{*target}"];
    /// `POST|PUT /nobucket_upload/{key}`: the proxy picks the bucket.
    NobucketUpload: segment "nobucket_upload", label "nobucket_upload",
        routes ["/nobucket_upload/{*key}"];
    /// `GET|HEAD /get/{bucket}/{key}`.
    Get: segment "get", label "get", routes ["/get/{*target}"];
    /// `GET /list/{bucket}?prefix=&delimiter=&start-after=&continuation-token=&max-keys=`.
    List: segment "list", label "list", routes ["/list/{*target}"];
    /// `GET /lookup/{bucket}/{key}`.
    Lookup: segment "lookup", label "lookup", routes ["/lookup/{*target}"];
    /// `GET /redirect/{bucket}/{key}`: 302 to the blob region on a storage host.
    Redirect: segment "redirect", label "redirect", routes ["/redirect/{*target}"];
    /// `POST|PUT|DELETE /delete/{bucket}/{key}`.
    Delete: segment "delete", label "delete", routes ["/delete/{*target}"];
    /// `POST|PUT /bulk_delete/{bucket}` with `{"keys": [...]}`.
    BulkDelete: segment "bulk_delete", label "bulk_delete", routes ["/bulk_delete/{*target}"];
    /// `POST /update-bucket-directory/{dir}`: creates or changes a bucket directory (RIFT).
    UpdateBucketDirectory: segment "update-bucket-directory", label "update_bucket_directory",
        routes ["/update-bucket-directory/{*target}"];
    /// `GET /list-bucket-directory/{dir}`: the directory's buckets with groups and usage.
    ListBucketDirectory: segment "list-bucket-directory", label "list_bucket_directory",
        routes ["/list-bucket-directory/{*target}"];
    /// `POST /delete-bucket-directory/{dir}`: removes a bucket directory.
    DeleteBucketDirectory: segment "delete-bucket-directory", label "delete_bucket_directory",
        routes ["/delete-bucket-directory/{*target}"];
    /// `POST /update-bucket/{dir}/{bucket}`: creates or changes a bucket (RIFT).
    UpdateBucket: segment "update-bucket", label "update_bucket",
        routes ["/update-bucket/{*target}"];
    /// `GET /read-bucket/{bucket}`: a bucket's metadata (tokens for its admins only).
    ReadBucket: segment "read-bucket", label "read_bucket", routes ["/read-bucket/{*target}"];
    /// `POST /delete-bucket/{bucket}`: removes a bucket's metadata (not its objects).
    DeleteBucket: segment "delete-bucket", label "delete_bucket",
        routes ["/delete-bucket/{*target}"];
    /// `GET /buckets`: the buckets the caller may read.
    Buckets: segment "buckets", label "buckets", routes ["/buckets", "/buckets/"];
    /// `GET /ping`.
    Ping: segment "ping", label "ping", routes ["/ping", "/ping/"];
    /// `GET /stat[/b1,b2]`.
    Stat: segment "stat", label "stat", routes ["/stat", "/stat/", "/stat/{*names}"];
    /// `GET /proxy_stat`.
    ProxyStat: segment "proxy_stat", label "proxy_stat", routes ["/proxy_stat", "/proxy_stat/"];
    /// `GET /metrics` (Prometheus text).
    Metrics: segment "metrics", label "metrics", routes ["/metrics"];
    /// `GET /healthz`: liveness.
    Healthz: segment "healthz", label "health", routes ["/healthz"];
    /// `GET /readyz`: readiness.
    Readyz: segment "readyz", label "health", routes ["/readyz"];
    /// Any other path: a file under the static root (the router's fallback).
    Static: segment "", label "static", routes [];
}

impl Endpoint {
    /// The endpoint a raw request path belongs to, by its first segment (leading slashes
    /// skipped); [`Endpoint::Static`] for every path the table does not name.
    pub fn of_path(path: &str) -> Endpoint {
        let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
        Endpoint::ALL
            .iter()
            .copied()
            .find(|e| !e.segment().is_empty() && e.segment() == first)
            .unwrap_or(Endpoint::Static)
    }

    /// What follows `/{segment}/` in a (decoded) path: the bucket and key of a target;
    /// `None` when the path does not start so.
    pub fn strip_prefix(self, path: &[u8]) -> Option<&[u8]> {
        path.strip_prefix(b"/")?
            .strip_prefix(self.segment().as_bytes())?
            .strip_prefix(b"/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_maps_back_to_its_endpoint() {
        for &endpoint in Endpoint::ALL {
            for route in endpoint.routes() {
                assert!(route.starts_with('/'), "{route}");
                assert_eq!(Endpoint::of_path(route), endpoint, "{route}");
            }
            assert_eq!(endpoint.routes().is_empty(), endpoint == Endpoint::Static);
        }
        let segments: std::collections::HashSet<_> =
            Endpoint::ALL.iter().map(|e| e.segment()).collect();
        assert_eq!(segments.len(), Endpoint::ALL.len(), "segments are unique");
    }

    #[test]
    fn labels() {
        assert_eq!(Endpoint::of_path("/get/b/k").label(), "get");
        assert_eq!(Endpoint::of_path("/upload/b/k").label(), "upload");
        assert_eq!(Endpoint::of_path("/readyz").label(), "health");
        assert_eq!(Endpoint::of_path("/index.html").label(), "static");
        assert_eq!(Endpoint::of_path("/").label(), "static");
        assert_eq!(
            Endpoint::of_path("/update-bucket/d/b").label(),
            "update_bucket"
        );
        assert_eq!(
            Endpoint::of_path("/update-bucket-directory/d").label(),
            "update_bucket_directory"
        );
        assert_eq!(Endpoint::Get.strip_prefix(b"/get/b/k"), Some(&b"b/k"[..]));
        assert_eq!(Endpoint::Get.strip_prefix(b"/getx/b/k"), None);
    }
}
