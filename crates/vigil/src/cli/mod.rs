//! vigil's command line: `main` and one module per subcommand that needs more than a few lines
//! ([`demo`], [`check`]). Thin: the runtime and the HTTP server do the work; [`serve`] puts them
//! together and stops them in order.

pub mod check;
pub mod demo;
pub mod user;

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
        /// Publish to this MQTT broker (`mqtt://host:1883`), with Home Assistant discovery.
        #[arg(long, value_name = "URL")]
        mqtt: Option<String>,
    },
    /// Validate a configuration file and probe every camera (RTSP, ONVIF); exit 0 when all work.
    Check {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Find ONVIF cameras on the local network (WS-Discovery), with their stream URLs when
    /// given credentials.
    Discover {
        /// The network interface to probe on (default: `[server] discovery_interface` of
        /// --config, else the kernel's choice).
        #[arg(long, value_name = "NAME")]
        interface: Option<String>,
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        #[arg(long)]
        username: Option<String>,
        /// The cameras' password (read from stdin when `-`).
        #[arg(long)]
        password: Option<String>,
        /// Seconds to collect answers.
        #[arg(long, default_value = "3")]
        wait: f64,
        /// Print JSON (the API's shape) instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Manage the users of the web UI and the API (kept in the catalog).
    User {
        #[command(subcommand)]
        cmd: UserCmd,
    },
    /// Work on the catalog (docs/cluster.md).
    Catalog {
        #[command(subcommand)]
        cmd: CatalogCmd,
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

#[derive(Subcommand)]
enum CatalogCmd {
    /// Copy the configuration's SQLite catalog into an empty PostgreSQL database (then set
    /// `[catalog] url` to it). Run it with vigil stopped.
    MigrateTo {
        /// postgres://user:password@host:port/database
        url: String,
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum UserCmd {
    /// Add a user (or change one's role and password); the password is read from stdin.
    Add {
        name: String,
        #[arg(long, value_name = "admin|viewer")]
        role: String,
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// List the users.
    List {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Remove a user (its sessions end).
    Remove {
        name: String,
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
}

/// Listening beyond loopback with neither users nor an API token would give anyone on the
/// network the cameras and the clips: refused, saying why.
fn refuse_open_network(config: &crate::config::Config) -> anyhow::Result<()> {
    let ip = config.server.listen.ip();
    if ip.is_loopback() || config.server.api_token.is_some() {
        return Ok(());
    }
    let path = config.server.data_dir.join("catalog.db");
    let may_have_users = config.catalog.url.is_some() || path.exists();
    if may_have_users && crate::catalog::Catalog::for_config(config)?.user_count()? > 0 {
        return Ok(());
    }
    anyhow::bail!(
        "server.listen = {}: refusing to listen beyond this machine with neither users nor an API token (anyone on the network could watch the cameras and delete clips). Add a user (`vigil user add NAME --role admin --config FILE`), set server.api_token, or listen on 127.0.0.1",
        config.server.listen
    )
}

/// `vigil catalog migrate-to URL`: the configuration's SQLite catalog copied into PostgreSQL.
fn migrate_to(config: &crate::config::Config, url: &str) -> anyhow::Result<Vec<String>> {
    use crate::catalog::Catalog;
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        anyhow::bail!("{url:?}: the target must be a postgres:// URL");
    }
    let path = config.server.data_dir.join("catalog.db");
    if !path.exists() {
        anyhow::bail!(
            "{}: no SQLite catalog to copy (server.data_dir of this configuration)",
            path.display()
        );
    }
    let source = Catalog::open(&path)?;
    let target = Catalog::connect(url)?;
    let report = source.copy_into(&target)?;
    let mut out: Vec<String> = report
        .tables
        .iter()
        .map(|(t, n)| format!("{t}: {n} rows"))
        .collect();
    out.push(format!(
        "copied {} into {}; now set [catalog] url in the configuration (the SQLite file is left as it was)",
        path.display(),
        target.location()
    ));
    Ok(out)
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
        // Colour only on a terminal: log files and journald get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match Cli::parse().cmd {
        Cmd::Run { config } => {
            let mut config = crate::config::Config::load(&config)?;
            raise_open_files_limit();
            runtime()?.block_on(async {
                let clock: std::sync::Arc<dyn vigil_core::time::Clock> =
                    std::sync::Arc::new(vigil_core::time::SystemClock);
                let listener = tokio::net::TcpListener::bind(config.server.listen)
                    .await
                    .with_context(|| {
                        format!("server.listen: cannot listen on {}", config.server.listen)
                    })?;
                // The port actually bound (`:0` picks one): links sent out point at it.
                config.server.listen = listener.local_addr()?;
                refuse_open_network(&config)?;
                // A certificate that doesn't load is said before any camera starts.
                if let (Some(c), Some(k)) = (&config.server.tls_cert, &config.server.tls_key) {
                    crate::http::tls_acceptor(c, k)?;
                }
                let rt = crate::runtime::Runtime::start(config, clock)?;
                serve(rt, listener, shutdown_signal(None)).await
            })
        }
        Cmd::Demo {
            data_dir,
            listen,
            exit_after,
            mqtt,
        } => {
            let exit_after = match exit_after {
                Some(s) if !(s.is_finite() && s >= 0.0) => {
                    anyhow::bail!("--exit-after: must be a number of seconds >= 0 (got {s})")
                }
                other => other.map(Duration::from_secs_f64),
            };
            raise_open_files_limit();
            runtime()?.block_on(demo::run(demo::DemoOptions {
                data_dir,
                listen,
                exit_after,
                mqtt,
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
        Cmd::Discover {
            interface,
            config,
            username,
            password,
            wait,
            json,
        } => {
            if !(wait.is_finite() && (0.1..=60.0).contains(&wait)) {
                anyhow::bail!("--wait: must be between 0.1 and 60 seconds (got {wait})");
            }
            let interface = match (interface, config) {
                (Some(i), _) => Some(i),
                (None, Some(c)) => crate::config::Config::load(&c)?.server.discovery_interface,
                (None, None) => None,
            };
            let password = match password.as_deref() {
                Some("-") => {
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    Some(line.trim_end_matches(['\n', '\r']).to_owned())
                }
                _ => password,
            };
            let opts = crate::discover::Options {
                interface,
                username,
                password,
                wait: Some(Duration::from_secs_f64(wait)),
            };
            let devices = runtime()?.block_on(crate::discover::discover(
                &opts,
                std::sync::Arc::new(vigil_core::time::SystemClock),
                &[],
            ))?;
            if json {
                println!("{}", serde_json::json!({ "devices": devices }));
            } else {
                for l in crate::discover::lines(&devices) {
                    println!("{l}");
                }
            }
            Ok(())
        }
        Cmd::User { cmd } => {
            let out = match cmd {
                UserCmd::Add { name, role, config } => {
                    vec![user::add(
                        &crate::config::Config::load(&config)?,
                        &name,
                        &role,
                    )?]
                }
                UserCmd::List { config } => user::list(&crate::config::Config::load(&config)?)?,
                UserCmd::Remove { name, config } => {
                    vec![user::remove(&crate::config::Config::load(&config)?, &name)?]
                }
            };
            for l in out {
                println!("{l}");
            }
            Ok(())
        }
        Cmd::Catalog {
            cmd: CatalogCmd::MigrateTo { url, config },
        } => {
            for l in migrate_to(&crate::config::Config::load(&config)?, &url)? {
                println!("{l}");
            }
            Ok(())
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

/// Raises the soft limit of open files to the hard one, so that recording (clip files, spools,
/// camera sockets, the catalog) has all the descriptors the system allows; logs both. The HTTP
/// server keeps its own share bounded (`[server] max_connections`).
pub fn raise_open_files_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        tracing::warn!(
            "cannot read the open-files limit: {}",
            std::io::Error::last_os_error()
        );
        return;
    }
    let before = lim.rlim_cur;
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
            tracing::warn!(
                "cannot raise the open-files limit from {before} to {}: {}",
                lim.rlim_max,
                std::io::Error::last_os_error()
            );
            return;
        }
    }
    tracing::info!(
        "open files: soft limit {} (was {before}), hard limit {}",
        lim.rlim_cur,
        lim.rlim_max
    );
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
    let server = match crate::http::start(listener, handle.clone()) {
        Ok(s) => s,
        Err(e) => {
            rt.shutdown().await;
            return Err(e);
        }
    };
    tracing::info!(
        "{} cameras, clips under {}, status page on {}://{}",
        handle.cameras().names().len(),
        handle.clips_root().display(),
        if handle.config().server.tls_cert.is_some() {
            "https"
        } else {
            "http"
        },
        server.local_addr()
    );
    shutdown.await;
    rt.shutdown().await;
    server.stop(HTTP_GRACE).await;
    Ok(())
}

/// Resolves when the signal `s` comes (never without one).
async fn wait(s: Option<&mut tokio::signal::unix::Signal>) {
    match s {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

/// Resolves on Ctrl-C, SIGTERM, or after `after` (if given).
pub fn shutdown_signal(
    after: Option<std::time::Duration>,
) -> impl std::future::Future<Output = ()> + Send {
    // The handlers are installed here, before anyone is told the server is up: a SIGTERM sent
    // right after the "status page on" line must not find the default action (death, with
    // the open clips left torn) still in place.
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).ok();
    let mut int = signal(SignalKind::interrupt()).ok();
    async move {
        let timer = async {
            match after {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = timer => {},
            _ = wait(term.as_mut()) => {},
            _ = wait(int.as_mut()) => {},
        }
    }
}
