//! The `em-metrics` binary: read settings, open the store, serve until a signal.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{CommandFactory, FromArgMatches};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

use em_metrics::audit::AuditLog;
use em_metrics::auth::Auth;
use em_metrics::config::cli::RenameEnvironmentArgs;
use em_metrics::config::{Cli, Command, LogFormat, RawSettings, Settings, StartupError};
use em_metrics::domain::Id;
use em_metrics::store::Store;
use em_metrics::teams::{TeamConfig, Teams};
use em_metrics::telemetry::Telemetry;
use em_metrics::{server, signals, AppState, Shared};

use em_metrics::store::DEFAULT_WRITE_TIMEOUT;

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    cli.settings.sqlite_db_given =
        !matches!(matches.value_source("sqlite_db"), None | Some(clap::parser::ValueSource::DefaultValue));
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => exit_on_startup_error(serve(cli.settings)),
        Command::Demo(args) => exit_on_startup_error(demo(cli.settings, args)),
        Command::Backup(_) if cli.settings.database_url.as_deref().is_some_and(|u| !u.trim().is_empty()) => {
            eprintln!(
                "em-metrics backup: DATABASE_URL is set, and a PostgreSQL store is backed up with pg_dump \
                 (pg_dump --format=custom \"$DATABASE_URL\" > em-metrics.dump; see docs/postgres.md)"
            );
            ExitCode::from(2)
        }
        Command::Copy(args) => copy(&cli.settings, args),
        Command::Backup(args) => match em_metrics::store::backup(&cli.settings.sqlite_db, &args.file) {
            Ok(done) => {
                println!(
                    "backup: {} ({} bytes, {} deployments, {} incidents, integrity ok) in {:.1} s",
                    args.file.display(),
                    done.bytes,
                    done.deployments,
                    done.incidents,
                    done.elapsed.as_secs_f64()
                );
                ExitCode::SUCCESS
            }
            Err(why) => {
                eprintln!("em-metrics backup: {why}");
                ExitCode::from(1)
            }
        },
        Command::RenameEnvironment(args) => rename_environment(&cli.settings, args),
        Command::Token(command) => token(&cli.settings, command),
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

/// Renames an environment in the configured database, server running or not.
fn rename_environment(raw: &RawSettings, args: RenameEnvironmentArgs) -> ExitCode {
    let fail = |why: String| {
        eprintln!("em-metrics rename-environment: {why}");
        ExitCode::from(1)
    };
    let (from, to) = match (Id::parse(args.from.trim()), Id::parse(args.to.trim())) {
        (Ok(from), Ok(to)) => (from, to),
        (Err(why), _) => return fail(format!("FROM {why}")),
        (_, Err(why)) => return fail(format!("TO {why}")),
    };
    let renamed = tokio::runtime::Runtime::new().map_err(|e| e.to_string()).and_then(|runtime| {
        runtime.block_on(async {
            let store = open_configured(raw, DEFAULT_WRITE_TIMEOUT).await.map_err(|e| e.to_string())?;
            store.rename_environment(from.clone(), to.clone()).await.map_err(|e| e.to_string())
        })
    });
    match renamed {
        Ok(r) => {
            println!(
                "rename-environment: {from} -> {to}: {} deployments, {} incidents, {} changes ({} shipped to both, \
                 counted once)",
                r.deployments, r.incidents, r.changes, r.merged_changes
            );
            ExitCode::SUCCESS
        }
        Err(why) => fail(why),
    }
}

/// `em-metrics copy --to postgres://…`: SQLITE_DB into an empty PostgreSQL database.
fn copy(raw: &RawSettings, args: em_metrics::config::cli::CopyArgs) -> ExitCode {
    use em_metrics::store::postgres;
    let fail = |why: String| {
        eprintln!("em-metrics copy: {why}");
        ExitCode::from(1)
    };
    let url = match postgres::DatabaseUrl::parse(&args.to) {
        Ok(url) => url,
        Err(why) => return fail(format!("--to {why}")),
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => return fail(e.to_string()),
    };
    let copied = runtime.block_on(async {
        let mut client = postgres::connect(&url).await.map_err(|why| format!("--to {url}: {why}"))?;
        postgres::copy_from_sqlite(&raw.sqlite_db, &mut client).await
    });
    match copied {
        Ok(done) => {
            for (table, rows) in &done.tables {
                println!("{table:<20} {rows:>10}");
            }
            println!(
                "copy: {} into {url}: {} rows in {:.1} s",
                raw.sqlite_db.display(),
                done.tables.iter().map(|(_, n)| n).sum::<u64>(),
                done.elapsed.as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(why) => fail(why),
    }
}

/// `em-metrics token ...` on the configured database, server running or not.
fn token(raw: &RawSettings, command: em_metrics::config::cli::TokenCommand) -> ExitCode {
    let outcome = Id::parse(raw.deployment_environment.trim())
        .map_err(|why| format!("DEPLOYMENT_ENVIRONMENT {why}"))
        .and_then(|environment| {
            // Drives PostgreSQL's connections while the command runs.
            let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
            let store = runtime.block_on(open_configured(raw, DEFAULT_WRITE_TIMEOUT)).map_err(|e| e.to_string())?;
            em_metrics::token_cli::run(&store, environment, command)
        });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("em-metrics token: {why}");
            ExitCode::from(1)
        }
    }
}

/// Needs no auth settings: it only writes to the database.
fn demo(raw: em_metrics::config::RawSettings, args: em_metrics::demo::DemoArgs) -> Result<(), StartupError> {
    let _logs = init_logging(LogFormat::Text);
    // A simulated day is one write of up to thousands of deployments: no
    // request is waiting, so no short deadline applies.
    let runtime = tokio::runtime::Runtime::new().map_err(|e| StartupError::new("runtime", e.to_string()))?;
    let store = runtime.block_on(open_configured(&raw, std::time::Duration::from_secs(3600)))?;
    let started = std::time::Instant::now();
    let summary = runtime
        .block_on(em_metrics::demo::run(&store, &args))
        .map_err(|e| StartupError::new("SQLITE_DB", format!("demo data not written: {e}")))?;
    // The data is written; a reader that stopped early (`| head -1`) is no
    // reason to fail, so write errors on stdout are ignored.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "demo: {} deployments ({} failed), {} incidents ({} open) over {} days in {} ({:.1} s)",
        summary.deployments,
        summary.failed,
        summary.incidents,
        summary.open_incidents,
        args.days,
        raw.sqlite_db.display(),
        started.elapsed().as_secs_f64()
    );
    let _ = writeln!(
        out,
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
    let _logs = init_logging(settings.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| StartupError::new("runtime", e.to_string()))?;
    // What can refuse the start comes first, so a refusal is one line.
    let (team_config, store, listener) = runtime.block_on(async {
        let team_config = match &settings.config {
            Some(path) => signals::load_config(path.clone()).await.map_err(|e| StartupError::new("CONFIG", e))?,
            None => TeamConfig::default(),
        };
        let store = open_store(settings.database_url.as_ref(), &settings.sqlite_db, settings.write_timeout).await?;
        let listener = listen(&settings.host, settings.port).await?;
        Ok::<_, StartupError>((team_config, store, listener))
    })?;
    // Built outside async code but inside the runtime: the gRPC exporter needs
    // the runtime, and the blocking HTTP client must not live in async code.
    let telemetry = {
        let _entered = runtime.enter();
        Telemetry::start(&settings.metrics)?
    };
    let result = runtime.block_on(serve_async(settings, &telemetry, team_config, store, listener));
    // After the last request: push the final interval so it is not lost.
    telemetry.shutdown();
    result
}

/// [`open_store`] from the raw settings of a subcommand.
async fn open_configured(raw: &RawSettings, write_timeout: std::time::Duration) -> Result<Store, StartupError> {
    let url = em_metrics::config::database_url(raw)?;
    open_store(url.as_ref(), &raw.sqlite_db, write_timeout).await
}

/// The configured store: PostgreSQL when DATABASE_URL is set (connected to
/// and migrated), else the SQLite file. PostgreSQL's connections are driven
/// by the runtime this runs on, which must outlive the store.
async fn open_store(
    database_url: Option<&em_metrics::store::postgres::DatabaseUrl>,
    sqlite_db: &std::path::Path,
    write_timeout: std::time::Duration,
) -> Result<Store, StartupError> {
    use em_metrics::store::StoreError;
    match database_url {
        Some(url) => Store::open_postgres(url, write_timeout).map_err(|e| {
            let why = match e {
                StoreError::Unavailable(why) | StoreError::Internal(why) | StoreError::Busy(why) => why,
                other => other.to_string(),
            };
            StartupError::new("DATABASE_URL", format!("{url}: {why}"))
        }),
        None => Store::open_with(sqlite_db, write_timeout)
            .map_err(|e| StartupError::new("SQLITE_DB", format!("{}: {e}", sqlite_db.display()))),
    }
}

async fn serve_async(
    settings: Settings,
    telemetry: &Telemetry,
    team_config: TeamConfig,
    store: Store,
    listener: TcpListener,
) -> Result<(), StartupError> {
    let teams = Teams::new(team_config);
    signals::reload_config_on_sighup(settings.config.clone(), teams.clone());
    signals::survive_file_size_limit();
    if settings.auth.disabled {
        tracing::warn!("authentication is disabled (EM_METRICS_NO_AUTH): anyone who can reach this port can write");
    }
    let audit = AuditLog::start(store.clone());
    let state = AppState::new(Shared {
        store: store.recording_to(Arc::new(telemetry.metrics())),
        teams,
        auth: Arc::new(
            Auth::new(settings.auth.clone(), settings.access.clone())
                .map_err(|e| StartupError::new("EM_METRICS_OIDC_ISSUER", e))?,
        ),
        default_environment: settings.default_environment.clone(),
        attribution: settings.attribution.clone(),
        max_clock_skew_ms: settings.max_clock_skew_ms,
        prometheus: telemetry.prometheus(),
        webhooks: Arc::new(settings.webhooks.clone()),
        store_usernames: settings.store_usernames,
        min_group_size: settings.min_group_size,
        audit,
    });
    warn_of_uncounted_no_env(&state).await;
    if let Some(retention) = settings.retention {
        em_metrics::store::keep_for(state.store.clone(), retention);
    }
    let local = listener.local_addr().map_err(|e| StartupError::new("HOST", e.to_string()))?;
    // Listening for SIGTERM before saying ready: a signal right after the
    // ready line shuts down cleanly instead of killing the process.
    let shutdown = signals::shutdown();
    let database = match &settings.database_url {
        Some(url) => url.to_string(),
        None => settings.sqlite_db.display().to_string(),
    };
    tracing::info!(address = %local, %database, "em-metrics ready on http://{local}");
    server::run(listener, em_metrics::app(state), shutdown)
        .await
        .map_err(|e| StartupError::new("server", e.to_string()))?;
    tracing::info!("stopped");
    Ok(())
}

/// The environment earlier versions gave events that named none.
const OLD_DEFAULT_ENVIRONMENT: &str = "NO_ENV";

/// Deployments stored under the old default environment are no longer
/// counted as production: say so once, and how to count them again.
async fn warn_of_uncounted_no_env(state: &AppState) {
    let production = state.attribution.production(&state.default_environment);
    if production.iter().any(|e| e == OLD_DEFAULT_ENVIRONMENT) {
        return;
    }
    let Ok(old) = Id::parse(OLD_DEFAULT_ENVIRONMENT) else { return };
    if let Ok(true) = state.store.has_environment(old).await {
        tracing::warn!(
            "the store holds deployments in environment {OLD_DEFAULT_ENVIRONMENT} (the default of \
             DEPLOYMENT_ENVIRONMENT before it became production), which /dora and the dashboard no longer count \
             as production; to keep counting them set DEPLOYMENT_ENVIRONMENT={OLD_DEFAULT_ENVIRONMENT}, or move \
             them with `em-metrics rename-environment {OLD_DEFAULT_ENVIRONMENT} {}`",
            state.default_environment
        );
    }
}

/// Binds HOST:PORT. A HOST that is no address of this machine (or no
/// address at all) is a HOST problem; a port in use or not allowed is a PORT one.
async fn listen(host: &str, port: u16) -> Result<TcpListener, StartupError> {
    let addresses: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| StartupError::new("HOST", format!("`{host}` is not an address or a name that resolves: {e}")))?
        .collect();
    let address =
        addresses.first().ok_or_else(|| StartupError::new("HOST", format!("`{host}` resolves to no address")))?;
    TcpListener::bind(address).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrNotAvailable {
            StartupError::new("HOST", format!("`{host}` ({address}) is not an address of this machine: {e}"))
        } else {
            StartupError::new("PORT", format!("cannot listen on {address}: {e}"))
        }
    })
}

/// Returns the guard that flushes buffered log lines when dropped: keep it
/// until the process is done.
fn init_logging(format: LogFormat) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // At trace, hyper-util's connection pool logs each authority it connects
    // to, with the user and password of a collector URL that has them.
    let filter = match "hyper_util::client::legacy::pool=debug".parse() {
        Ok(cap) => filter.add_directive(cap),
        Err(_) => filter,
    };
    // A request's log line is handed to a logging thread instead of written
    // on the request's path: one system call less per request. Lines are
    // never dropped (lossy off); a full buffer makes requests wait instead.
    // The logging thread writes through a buffer it flushes whenever it has
    // drained what is queued: one write for a burst of lines, not one each.
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .finish(std::io::BufWriter::new(std::io::stderr()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
    guard
}
