//! The one `backrunner` binary: parses the command line, sets up logging and hands over to
//! the subcommand (storage node, HTTP proxy, operator, the all-in-one `dev` mode, and
//! admin commands). All logic lives in the library crates.

mod cmd;

/// mimalloc instead of glibc malloc: request handling allocates and frees small buffers
/// on different threads (a reply decoded on a connection's reader task is freed by the
/// request's task), where glibc's per-arena locks showed up in profiles.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};

/// Backrunner for Kubernetes: an HTTP gateway and operator for the Elliptics object store.
#[derive(Debug, Parser)]
#[command(name = "backrunner", version, about, long_about = None)]
struct Cli {
    /// Log filter (tracing env-filter syntax), e.g. `info` or `backrunner_node=debug`.
    #[arg(long, global = true, env = "BACKRUNNER_LOG", default_value = "info")]
    log: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run an Elliptics-compatible storage node.
    Node(cmd::node::NodeArgs),
    /// Run the HTTP proxy (Backrunner-compatible REST API).
    Proxy(cmd::proxy::ProxyArgs),
    /// Run the Kubernetes operator.
    Operator(cmd::operator::OperatorArgs),
    /// Run everything on this machine: two embedded nodes (groups 1 and 2) and the proxy.
    Dev(cmd::dev::DevArgs),
    /// Manage bucket metadata without Kubernetes.
    Bucket(cmd::bucket::BucketArgs),
    /// Start defragmentation of a backend and optionally wait for it to finish.
    Defrag(cmd::defrag::DefragArgs),
    /// Print the statistics of every node of a cluster (MONITOR_STAT).
    Stat(cmd::stat::StatArgs),
    /// Remove the parts of uploads no object names (abandoned or replaced).
    Sweep(cmd::sweep::SweepArgs),
    /// Copy the newest version of every key to the groups that miss it or hold an older one.
    Recover(cmd::recover::RecoverArgs),
    /// Report what a bucket's disks hold that its key index does not name; log given names.
    Reconcile(cmd::reconcile::ReconcileArgs),
    /// Print the Authorization header for a signed request.
    Sign(cmd::sign::SignArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // s3s logs every S3 error reply (NoSuchKey, AccessDenied...) at ERROR; the S3 front's
    // access log and its own warnings say what matters. `BACKRUNNER_LOG=...,s3s=debug`
    // brings them back.
    let filter = match cli.log.contains("s3s") {
        true => filter,
        false => filter.add_directive("s3s=off".parse().unwrap_or_else(|_| {
            tracing_subscriber::filter::Directive::from(tracing::Level::ERROR)
        })),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("backrunner: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Node(a) => cmd::node::run(a).await,
            Command::Dev(a) => cmd::dev::run(a).await,
            Command::Defrag(a) => cmd::defrag::run(a).await,
            Command::Stat(a) => cmd::stat::run(a).await,
            Command::Sweep(a) => cmd::sweep::run(a).await,
            Command::Proxy(a) => cmd::proxy::run(a).await,
            Command::Operator(a) => cmd::operator::run(a).await,
            Command::Bucket(a) => cmd::bucket::run(a).await,
            Command::Recover(a) => cmd::recover::run(a).await,
            Command::Reconcile(a) => cmd::reconcile::run(a).await,
            Command::Sign(a) => cmd::sign::run(a),
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("backrunner: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
