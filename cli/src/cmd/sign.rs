//! `backrunner sign METHOD URL --user U --token T`: prints the `Authorization` header of a
//! signed request (HMAC-SHA512 over the canonical request, DESIGN contract 4).

use anyhow::Context;
use backrunner_proxy::signature::{DEFAULT_AUTH_SCHEME, authorization_header, decode_path, sign};

/// Arguments of `backrunner sign`.
#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// HTTP method, e.g. GET or POST.
    method: String,
    /// The request URL (`http://host/path?query`) or just its path and query.
    url: String,
    /// User name from the bucket ACL.
    #[arg(long)]
    user: String,
    /// The user's token.
    #[arg(long, env = "BACKRUNNER_TOKEN")]
    token: String,
    /// Signed `X-Ell-*` headers the request will carry, as `Name: value` (repeatable).
    #[arg(long = "header", short = 'H')]
    headers: Vec<String>,
    /// Print only the header value, without `Authorization: `.
    #[arg(long)]
    value_only: bool,
}

/// The `Authorization` value for `method url` signed with `token`.
pub fn authorization(
    method: &str,
    url: &str,
    user: &str,
    token: &str,
    headers: &[(String, String)],
) -> anyhow::Result<String> {
    let uri: http::Uri = url.parse().context("parsing the URL")?;
    let path = decode_path(uri.path()).context("decoding the URL path")?;
    let headers = headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes()));
    let signature = sign(
        &method.to_ascii_uppercase(),
        &path,
        uri.query(),
        headers,
        token,
    );
    Ok(authorization_header(DEFAULT_AUTH_SCHEME, user, &signature))
}

/// Prints the header.
pub fn run(args: SignArgs) -> anyhow::Result<()> {
    let headers = args
        .headers
        .iter()
        .map(|h| {
            h.split_once(':')
                .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
                .with_context(|| format!("--header {h:?}: expected `Name: value`"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let value = authorization(&args.method, &args.url, &args.user, &args.token, &headers)?;
    if args.value_only {
        println!("{value}");
    } else {
        println!("Authorization: {value}");
    }
    Ok(())
}
