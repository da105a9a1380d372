//! Subcommands whose component has not landed yet: they say so and exit non-zero.

/// Accepts and ignores any arguments.
#[derive(Debug, clap::Args)]
pub struct PendingArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    rest: Vec<String>,
}

/// Reports that `what` is not available in this build.
pub fn run(what: &str, issue: u32) -> anyhow::Result<()> {
    anyhow::bail!(
        "`backrunner {what}` is not available yet in this build (tracked in issue {issue})"
    )
}
