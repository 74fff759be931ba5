//! The `em-metrics` binary: read settings, open the store, serve until a signal.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

use em_metrics::config::{Cli, Command, LogFormat, Settings, StartupError};
use em_metrics::http::auth::Auth;
use em_metrics::metrics::Metrics;
use em_metrics::store::Store;
use em_metrics::teams::{TeamConfig, Teams};
use em_metrics::telemetry::Telemetry;
use em_metrics::{server, AppState};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => exit_on_startup_error(serve(cli.settings)),
        Command::Demo(args) => exit_on_startup_error(demo(cli.settings, args)),
        Command::Healthcheck(args) => {
            let url = args.url.unwrap_or_else(|| format!("http://127.0.0.1:{}/health", cli.settings.port.trim()));
            match em_metrics::healthcheck::check(&url) {
                Ok(()) => ExitCode::SUCCESS,
                Err(why) => {
                    eprintln!("em-metrics healthcheck: {why}");
                    ExitCode::from(1)
                }
            }
        }
    }
}

/// Needs no auth settings: it only writes to the database.
fn demo(raw: em_metrics::config::RawSettings, args: em_metrics::demo::DemoArgs) -> Result<(), StartupError> {
    init_logging(LogFormat::Text);
    let store = Store::open(&raw.sqlite_db)
        .map_err(|e| StartupError::new("SQLITE_DB", format!("{}: {e}", raw.sqlite_db.display())))?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| StartupError::new("runtime", e.to_string()))?;
    let started = std::time::Instant::now();
    let summary = runtime
        .block_on(em_metrics::demo::run(&store, &args, raw.deployment_environment.trim()))
        .map_err(|e| StartupError::new("SQLITE_DB", format!("demo data not written: {e}")))?;
    println!(
        "demo: {} deployments ({} failed), {} incidents ({} open) over {} days in {} ({:.1} s)",
        summary.deployments,
        summary.failed,
        summary.incidents,
        summary.open_incidents,
        args.days,
        raw.sqlite_db.display(),
        started.elapsed().as_secs_f64()
    );
    println!(
        "teams: {}  (add them to your CONFIG to map new events the same way)",
        serde_json::to_string(&summary.teams).unwrap_or_default()
    );
    Ok(())
}

/// Start-up problems are one line naming the variable, and exit code 2.
fn exit_on_startup_error(result: Result<(), StartupError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("em-metrics: {e}");
            ExitCode::from(2)
        }
    }
}

fn serve(raw: em_metrics::config::RawSettings) -> Result<(), StartupError> {
    let settings = Settings::from_raw(raw)?;
    init_logging(settings.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| StartupError::new("runtime", e.to_string()))?;
    // Built outside async code but inside the runtime: the gRPC exporter needs
    // the runtime, and the blocking HTTP client must not live in async code.
    let telemetry = {
        let _entered = runtime.enter();
        Telemetry::start(&settings.metrics)?
    };
    let result = runtime.block_on(serve_async(settings, &telemetry));
    // After the last request: push the final interval so it is not lost.
    telemetry.shutdown();
    result
}

async fn serve_async(settings: Settings, telemetry: &Telemetry) -> Result<(), StartupError> {
    let team_config = match &settings.config {
        Some(path) => TeamConfig::load(path).map_err(|e| StartupError::new("CONFIG", e))?,
        None => TeamConfig::default(),
    };
    let store = Store::open(&settings.sqlite_db)
        .map_err(|e| StartupError::new("SQLITE_DB", format!("{}: {e}", settings.sqlite_db.display())))?;
    let teams = Teams::new(team_config);
    if let Some(path) = settings.config.clone() {
        reload_on_sighup(path, teams.clone());
    }
    survive_file_size_limit();
    if settings.auth.disabled {
        tracing::warn!("authentication is disabled (EM_METRICS_NO_AUTH): anyone who can reach this port can write");
    }
    let state = AppState {
        store,
        teams,
        auth: Arc::new(Auth::new(settings.auth.clone())),
        default_environment: settings.default_environment.clone().into(),
        attribution: settings.attribution.clone(),
        max_clock_skew_ms: settings.max_clock_skew_ms,
        events: Arc::new(Metrics::new(&telemetry.meter())),
        prometheus: telemetry.prometheus(),
    };
    let address = format!("{}:{}", settings.host, settings.port);
    let listener = TcpListener::bind(&address)
        .await
        .map_err(|e| StartupError::new("PORT", format!("cannot listen on {address}: {e}")))?;
    let local = listener.local_addr().map_err(|e| StartupError::new("HOST", e.to_string()))?;
    tracing::info!(address = %local, database = %settings.sqlite_db.display(), "em-metrics ready on http://{local}");
    server::run(listener, em_metrics::app(state), server::shutdown_signal())
        .await
        .map_err(|e| StartupError::new("server", e.to_string()))?;
    tracing::info!("stopped");
    Ok(())
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
}

/// A write past the file-size limit (RLIMIT_FSIZE, a quota-like cap) raises
/// SIGXFSZ, whose default action kills the process. With a handler installed
/// the write fails with EFBIG instead: SQLite rolls the transaction back,
/// that request gets 503, and writes work again once the limit is raised.
fn survive_file_size_limit() {
    #[cfg(target_os = "linux")]
    {
        use tokio::signal::unix::{signal, SignalKind};
        const SIGXFSZ: i32 = 25;
        match signal(SignalKind::from_raw(SIGXFSZ)) {
            Ok(mut signals) => {
                tokio::spawn(async move {
                    while signals.recv().await.is_some() {
                        tracing::debug!("file size limit reached (SIGXFSZ)");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot handle SIGXFSZ; a full file-size quota would stop the process")
            }
        }
    }
}

/// SIGHUP re-reads the team config; a bad file keeps the old one and says why.
fn reload_on_sighup(path: std::path::PathBuf, teams: Teams) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; the team config will not reload");
            return;
        };
        while hangups.recv().await.is_some() {
            match TeamConfig::load(&path) {
                Ok(config) => {
                    tracing::info!(teams = config.teams.len(), "team config reloaded");
                    teams.replace(config);
                }
                Err(e) => tracing::error!(error = %e, "team config not reloaded; keeping the previous one"),
            }
        }
    });
}
