//! `backrunner dev`: the whole product on one machine, no cluster and no config — two
//! embedded storage nodes (groups 1 and 2) with data under `./backrunner-data`, bucket
//! metadata for a public bucket `default` and a signed bucket `private`, the HTTP proxy
//! on 127.0.0.1:9090 and its S3 front on 127.0.0.1:9000. Prints curl, aws-cli and rclone
//! examples that work when pasted.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use backrunner_node::Node;
use backrunner_node::config::{BackendConfig, NodeConfig};
use backrunner_proxy::ProxyConfig;
use backrunner_proxy::config::{AdminConfig, S3Config};
use backrunner_store::MetadataStore;
use backrunner_store::{AclEntry, AclFlags, BucketMetadata};
use tokio::net::TcpListener;

/// User of the `private` bucket.
const PRIVATE_USER: &str = "writer";
/// The bootstrap admin of the management endpoints (its token is the dev token too).
const ADMIN_USER: &str = "admin";

/// Arguments of `backrunner dev`.
#[derive(Debug, clap::Args)]
pub struct DevArgs {
    /// Where the embedded nodes keep their data.
    #[arg(long, env = "BACKRUNNER_DEV_DATA", default_value = "./backrunner-data")]
    data: PathBuf,
    /// First storage-node port; the second node uses the next one.
    #[arg(long, default_value_t = 1025)]
    node_port: u16,
    /// Proxy listen address.
    #[arg(long, default_value = "127.0.0.1:9090")]
    listen: SocketAddr,
    /// S3 front listen address.
    #[arg(long, default_value = "127.0.0.1:9000")]
    s3_listen: SocketAddr,
    /// Token of user `writer` of bucket `private` (random when not given).
    #[arg(long, env = "BACKRUNNER_DEV_TOKEN")]
    token: Option<String>,
}

fn node_config(data: &std::path::Path, port: u16, group: u32, peer: u16) -> NodeConfig {
    NodeConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], port)),
        advertise: None,
        protocol_version: "2.26.10.1".into(),
        remotes: vec![format!("127.0.0.1:{peer}:2")],
        auth_cookie: String::new(),
        max_payload: elliptics::proto::DEFAULT_MAX_PAYLOAD,
        max_connections: 4096,
        max_in_flight_per_connection: 256,
        peer_interval_secs: 5,
        backends: vec![BackendConfig {
            id: 1,
            group,
            dir: data.join(format!("node{group}")),
            size_limit: 0,
            blob_size: 256 << 20,
            sync: "interval:1000".into(),
            ring_ids: Vec::new(),
            ids_count: 8,
            read_only: false,
        }],
    }
}

/// Writes buckets `default` (public) and `private` (user `writer` may write, signed reads)
/// and the bucket list.
async fn write_buckets(config: &ProxyConfig, token: &str) -> anyhow::Result<()> {
    let client = elliptics::Client::connect(config.client_config()?)
        .await
        .context("connecting to the embedded nodes")?;
    let store = MetadataStore::new(&client, config.metadata_groups.clone());
    let mut public = BucketMetadata::new("default");
    public.groups = vec![1, 2];
    let mut private = BucketMetadata::new("private");
    private.groups = vec![1, 2];
    private.acl.insert(
        PRIVATE_USER.into(),
        AclEntry {
            version: 1,
            user: PRIVATE_USER.into(),
            token: token.into(),
            flags: AclFlags::WRITE,
        },
    );
    for meta in [&public, &private] {
        store.write_bucket(meta).await.check()?;
        store
            .add_to_list(&config.bucket_list_key, &meta.name)
            .await?;
    }
    client.shutdown().await;
    Ok(())
}

/// Runs two nodes and the proxy until SIGINT/SIGTERM.
pub async fn run(args: DevArgs) -> anyhow::Result<()> {
    let (p1, p2) = (args.node_port, args.node_port.wrapping_add(1));
    let n1 = Node::start(node_config(&args.data, p1, 1, p2).validate()?).await?;
    let n2 = Node::start(node_config(&args.data, p2, 2, p1).validate()?).await?;
    let token = args
        .token
        .clone()
        .unwrap_or_else(|| hex::encode(rand::random::<[u8; 16]>()));
    let config = ProxyConfig {
        listen: args.listen,
        remotes: vec![n1.addr().to_string(), n2.addr().to_string()],
        metadata_groups: vec![1, 2],
        admin: Some(AdminConfig {
            user: ADMIN_USER.into(),
            token: token.clone(),
        }),
        s3: Some(S3Config {
            listen: args.s3_listen,
            https_listen: None,
            region: "us-east-1".into(),
        }),
        ..ProxyConfig::default()
    };
    config.validate()?;
    write_buckets(&config, &token).await?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let base = format!("http://{}", listener.local_addr()?);
    print_banner(&base, &n1, &n2, &args, &token)?;
    let served = super::proxy::run_on(config, listener, super::shutdown_signal()).await;
    n1.shutdown().await;
    n2.shutdown().await;
    served
}

fn print_banner(
    base: &str,
    n1: &Node,
    n2: &Node,
    args: &DevArgs,
    token: &str,
) -> anyhow::Result<()> {
    let signed = |method: &str, path: &str| {
        super::sign::authorization(method, path, PRIVATE_USER, token, &[])
    };
    let put_private = signed("POST", "/upload/private/example.txt")?;
    let get_private = signed("GET", "/get/private/example.txt")?;
    let list_private = signed("GET", "/list/private")?;
    let admin =
        |method: &str, path: &str| super::sign::authorization(method, path, ADMIN_USER, token, &[]);
    let make_directory = admin("POST", "/update-bucket-directory/media")?;
    let make_bucket = admin("POST", "/update-bucket/media/photos")?;
    println!(
        "backrunner dev: proxy on {base}; storage nodes {} (group 1) and {} (group 2), data in {}",
        n1.addr(),
        n2.addr(),
        args.data.display()
    );
    println!("buckets: default (groups 1,2, public), private (user {PRIVATE_USER}, token {token})");
    println!();
    println!("  curl -sS --data-binary 'hello, backrunner' {base}/upload/default/hello.txt");
    println!("  curl -sS {base}/get/default/hello.txt");
    println!("  curl -sS -H 'Range: bytes=0-4' {base}/get/default/hello.txt");
    println!("  curl -sS {base}/lookup/default/hello.txt");
    println!("  curl -sS '{base}/list/default?prefix=hello&max-keys=100'");
    println!(
        "  curl -sS -H '{}' --data-binary 'secret' {base}/upload/private/example.txt",
        format_args!("Authorization: {put_private}")
    );
    println!(
        "  curl -sS -H '{}' {base}/get/private/example.txt",
        format_args!("Authorization: {get_private}")
    );
    println!(
        "  curl -sS -H '{}' {base}/list/private",
        format_args!("Authorization: {list_private}")
    );
    println!();
    println!("bucket management (admin user {ADMIN_USER}, the same token):");
    println!(
        "  curl -sS -H '{}' -d '{{}}' {base}/update-bucket-directory/media",
        format_args!("Authorization: {make_directory}")
    );
    println!(
        "  curl -sS -H '{}' -d '{{\"groups\":[1,2],\"acl\":[]}}' {base}/update-bucket/media/photos",
        format_args!("Authorization: {make_bucket}")
    );
    println!("  curl -sS {base}/list-bucket-directory/media");
    println!(
        "  backrunner sign GET {base}/get/private/other.txt --user {PRIVATE_USER} --token {token}"
    );
    println!();
    print_s3_examples(&format!("http://{}", args.s3_listen), token);
    Ok(())
}

/// The S3 front: aws-cli and rclone, anonymous on `default`, as user `writer` (access key
/// id = user name, secret = token) on `private`.
fn print_s3_examples(s3: &str, token: &str) {
    let keys = format!(
        "AWS_ACCESS_KEY_ID={PRIVATE_USER} AWS_SECRET_ACCESS_KEY={token} AWS_DEFAULT_REGION=us-east-1"
    );
    let rclone = format!(
        ":s3,provider=Other,endpoint=\"{s3}\",access_key_id={PRIVATE_USER},secret_access_key={token}"
    );
    println!("S3 front on {s3} (path-style; access key id = ACL user, secret = its token):");
    println!();
    println!("  echo 'hello, s3' > hello.txt");
    println!("  aws --endpoint-url {s3} --no-sign-request s3 cp hello.txt s3://default/hello.txt");
    println!("  aws --endpoint-url {s3} --no-sign-request s3 ls s3://default/");
    println!(
        "  aws --endpoint-url {s3} --no-sign-request s3api get-object --bucket default --key hello.txt --range bytes=0-4 /dev/stdout"
    );
    println!("  {keys} aws --endpoint-url {s3} s3 cp hello.txt s3://private/hello.txt");
    println!("  {keys} aws --endpoint-url {s3} s3 ls s3://private/");
    println!("  {keys} aws --endpoint-url {s3} s3 rm s3://private/hello.txt");
    println!(
        "  rclone copy . ':s3,provider=Other,endpoint=\"{s3}\":default/rclone' --include hello.txt"
    );
    println!("  rclone copy . '{rclone}:private/rclone' --include hello.txt");
    println!("  rclone check . '{rclone}:private/rclone' --include hello.txt");
    println!();
}
