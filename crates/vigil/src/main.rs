//! vigil's command line. Thin: the library does the work.

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
        /// Address of the status page.
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
    /// Prints the time it took; `scripts/bench-remux` compares it with `ffmpeg -c copy`.
    Remux { input: PathBuf, output: PathBuf },
}

fn main() -> std::process::ExitCode {
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
            let config = vigil::config::Config::load(&config)?;
            runtime()?.block_on(async {
                let clock: std::sync::Arc<dyn vigil_core::time::Clock> =
                    std::sync::Arc::new(vigil_core::time::SystemClock);
                let listener = tokio::net::TcpListener::bind(config.server.listen)
                    .await
                    .with_context(|| {
                        format!("server.listen: cannot listen on {}", config.server.listen)
                    })?;
                let app = vigil::app::App::start(config, clock)?;
                vigil::app::serve(app, listener, vigil::app::shutdown_signal(None)).await
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
            runtime()?.block_on(vigil::demo::run(vigil::demo::DemoOptions {
                data_dir,
                listen,
                exit_after,
            }))
        }
        Cmd::Check { config } => {
            let config = vigil::config::Config::load(&config)?;
            let ok = runtime()?.block_on(vigil::check::check(&config, |line| println!("{line}")));
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
            let s = vigil::clips::remux(&input, &output)?;
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
