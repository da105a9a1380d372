//! Any GET or HEAD the API does not claim: a file under the configured static root,
//! streamed from disk ([`StaticRoot`](crate::static_files::StaticRoot) refuses every way
//! out of the root). 404 JSON when there is no root or no such file, 403 for escapes.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use http::{HeaderValue, Method, header};
use tokio_util::io::ReaderStream;

use crate::error::ApiError;
use crate::range::http_date;
use crate::state::AppState;
use crate::static_files::StaticError;

/// The fallback handler.
pub async fn static_file(
    State(state): State<AppState>,
    req: Request,
) -> Result<Response, ApiError> {
    let head = req.method() == Method::HEAD;
    if req.method() != Method::GET && !head {
        return Err(ApiError::NotFound);
    }
    let Some(root) = &state.static_root else {
        return Err(ApiError::NotFound);
    };
    let path = match root.resolve(req.uri().path()).await {
        Ok(p) => p,
        Err(StaticError::NotFound) => return Err(ApiError::NotFound),
        Err(StaticError::Forbidden) => {
            return Err(ApiError::Forbidden("path not allowed".into()));
        }
    };
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|_| ApiError::NotFound)?;
    let meta = file.metadata().await.map_err(|_| ApiError::NotFound)?;
    let content_type = state
        .content_types
        .for_key(&path.to_string_lossy())
        .to_owned();
    let body = match head {
        true => Body::empty(),
        false => Body::from_stream(ReaderStream::with_capacity(file, 64 << 10)),
    };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    let mut set = |name, value: String| {
        if let Ok(v) = HeaderValue::try_from(value) {
            headers.insert(name, v);
        }
    };
    set(header::CONTENT_LENGTH, meta.len().to_string());
    set(header::CONTENT_TYPE, content_type);
    if let Ok(modified) = meta.modified() {
        set(header::LAST_MODIFIED, http_date(modified));
    }
    Ok(response)
}
