//! vigil's command line: `main` and one module per subcommand that needs more than a few lines
//! ([`demo`], [`check`]). Thin: the runtime and the HTTP server do the work; [`serve`] puts them
//! together and stops them in order.

pub mod check;
pub mod demo;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "vigil",
    version,
    about = "Motion-triggered recorder for IP cameras"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Record the cameras of a configuration file (the main job).
    Run {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Run the whole pipeline with synthetic cameras and scripted motion; no camera needed.
    Demo {
        /// Where the demo keeps its data; clips go under DIR/clips.
        #[arg(long, default_value = "./vigil-demo")]
        data_dir: PathBuf,
        /// Address of the web UI and the HTTP API.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Stop on its own after this many seconds, closing clips cleanly.
        #[arg(long, value_name = "SECS")]
        exit_after: Option<f64>,
    },
    /// Validate a configuration file and probe every camera (RTSP, ONVIF); exit 0 when all work.
    Check {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Print an MP4 file's box tree.
    Inspect { file: PathBuf },
    /// Cut a clip's torn tail back to its last whole fragment (after a crash).
    Recover { file: PathBuf },
    /// Rewrite an MP4 (H.264/H.265, AAC) as a vigil clip: the recording path without a camera.
    /// Prints the time it took, to compare with `ffmpeg -c copy`.
    // The repository's bench/remux_vs_ffmpeg.py runs that comparison.
    Remux { input: PathBuf, output: PathBuf },
}

/// The `vigil` command.
pub fn main() -> std::process::ExitCode {
    match real_main() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vigil: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn real_main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().cmd {
        Cmd::Run { config } => {
            let config = crate::config::Config::load(&config)?;
            runtime()?.block_on(async {
                let clock: std::sync::Arc<dyn vigil_core::time::Clock> =
                    std::sync::Arc::new(vigil_core::time::SystemClock);
                let listener = tokio::net::TcpListener::bind(config.server.listen)
                    .await
                    .with_context(|| {
                        format!("server.listen: cannot listen on {}", config.server.listen)
                    })?;
                let rt = crate::runtime::Runtime::start(config, clock)?;
                serve(rt, listener, shutdown_signal(None)).await
            })
        }
        Cmd::Demo {
            data_dir,
            listen,
            exit_after,
        } => {
            let exit_after = match exit_after {
                Some(s) if !(s.is_finite() && s >= 0.0) => {
                    anyhow::bail!("--exit-after: must be a number of seconds >= 0 (got {s})")
                }
                other => other.map(Duration::from_secs_f64),
            };
            runtime()?.block_on(demo::run(demo::DemoOptions {
                data_dir,
                listen,
                exit_after,
            }))
        }
        Cmd::Check { config } => {
            let config = crate::config::Config::load(&config)?;
            let ok = runtime()?.block_on(check::check(&config, |line| println!("{line}")));
            if ok {
                Ok(())
            } else {
                anyhow::bail!("some cameras failed the check")
            }
        }
        Cmd::Inspect { file } => {
            let data =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            print!("{}", vigil_core::fmp4::inspect(&data));
            Ok(())
        }
        Cmd::Remux { input, output } => {
            let t0 = std::time::Instant::now();
            let s = crate::clips::remux(&input, &output)?;
            eprintln!(
                "remuxed {} frames ({:.2} s of video, {} bytes) in {:.1} ms",
                s.video_samples,
                s.duration_secs,
                s.bytes,
                t0.elapsed().as_secs_f64() * 1000.0
            );
            Ok(())
        }
        Cmd::Recover { file } => {
            let r = vigil_core::fmp4::recover(&file)
                .with_context(|| format!("recovering {}", file.display()))?;
            println!(
                "{}: kept {} of {} bytes, {} fragments, {:.2} s{}",
                file.display(),
                r.kept_bytes,
                r.original_bytes,
                r.fragments,
                r.duration_secs,
                if r.truncated { " (torn tail cut)" } else { "" }
            );
            Ok(())
        }
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

/// How long HTTP clients get to finish once the recorder has stopped; then they are dropped.
pub const HTTP_GRACE: Duration = Duration::from_secs(5);

/// Serves HTTP for `rt` until `shutdown`, then stops in this order: the recorder (every camera's
/// clip closed, the catalog final), then the HTTP server (clients get [`HTTP_GRACE`]). A client
/// that hangs on can delay the exit by that much at most, and never the clips.
pub async fn serve(
    rt: crate::runtime::Runtime,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let handle = rt.handle();
    let server = crate::http::start(listener, handle.clone())?;
    tracing::info!(
        "{} cameras, clips under {}, status page on http://{}",
        handle.cameras().names().len(),
        handle.clips_root().display(),
        server.local_addr()
    );
    shutdown.await;
    rt.shutdown().await;
    server.stop(HTTP_GRACE).await?;
    Ok(())
}

/// Resolves on Ctrl-C, SIGTERM, or after `after` (if given).
pub async fn shutdown_signal(after: Option<std::time::Duration>) {
    let timer = async {
        match after {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    let term = async {
        #[cfg(unix)]
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
            return;
        }
        std::future::pending::<()>().await
    };
    tokio::select! {
        _ = timer => {},
        _ = term => {},
        _ = tokio::signal::ctrl_c() => {},
    }
}
