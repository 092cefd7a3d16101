use std::process::ExitCode;

use clap::Parser;
use orderflow::cli::Cli;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    orderflow::telemetry::init(cli.telemetry.log_format);
    match orderflow::app::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "orderflow failed");
            ExitCode::FAILURE
        }
    }
}
