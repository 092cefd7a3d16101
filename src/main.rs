use std::process::ExitCode;

use clap::Parser;
use orderflow::cli::Cli;

/// glibc's malloc was ~20% of a cached GET's CPU under load (perf); mimalloc's thread-local
/// free lists suit tokio's many small, short-lived allocations.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let telemetry = match orderflow::telemetry::init(
        cli.telemetry.log_format,
        cli.telemetry.otlp_endpoint.as_ref(),
    ) {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("orderflow: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    let code = match orderflow::app::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "orderflow failed");
            ExitCode::FAILURE
        }
    };
    // The SDK's exporting thread blocks on its HTTP client: not on a runtime worker.
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    code
}
