//! Sets the artificial per-operation delay of one backend of a node through BACKEND_CONTROL
//! (CTL), as the slow-node tests do; the HTTP benchmarks use it for S4's slowed group.
//!
//! Run: `backend-delay <node ip:port[:family]> <backend id> <delay ms>` (0 removes it).

use std::process::ExitCode;

use elliptics::client::{Client, ClientConfig, VersionPolicy};
use elliptics::proto::{BackendCommand, BackendControl, NodeAddr, ProtocolVersion};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [node, backend, delay] = args.as_slice() else {
        eprintln!("usage: backend-delay <node ip:port[:family]> <backend id> <delay ms>");
        return ExitCode::from(2);
    };
    match run(node, backend, delay).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("backend-delay: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(node: &str, backend: &str, delay: &str) -> Result<(), String> {
    let addr = NodeAddr::parse(node).map_err(|e| format!("node address: {e}"))?;
    let backend: u32 = backend.parse().map_err(|e| format!("backend id: {e}"))?;
    let delay: u32 = delay.parse().map_err(|e| format!("delay: {e}"))?;
    let client = Client::connect(ClientConfig {
        remotes: vec![addr],
        protocol_version: VersionPolicy::Fixed(ProtocolVersion::V2_26),
        ..ClientConfig::default()
    })
    .await
    .map_err(|e| format!("connect: {e}"))?;
    let mut ctl = BackendControl::new(backend, BackendCommand::Ctl);
    ctl.delay = delay;
    client
        .backend_control(addr, ctl)
        .await
        .map_err(|e| format!("BACKEND_CONTROL: {e}"))?;
    println!("backend {backend} of {addr}: delay {delay} ms");
    Ok(())
}
