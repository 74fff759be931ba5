//! The process signals, in one place: SIGTERM/Ctrl-C end the server, SIGHUP
//! reloads the team config, SIGXFSZ is survived.

use std::path::PathBuf;

use crate::teams::{TeamConfig, Teams};

/// A future that completes on SIGTERM or Ctrl-C (SIGINT). The handlers are
/// installed when this is called, not when the future is first polled:
/// call it before saying the server is ready, or a SIGTERM sent right after
/// "ready" would meet the default action and kill the process mid-start.
pub fn shutdown() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let (term, interrupt) = {
        use tokio::signal::unix::{signal, SignalKind};
        (signal(SignalKind::terminate()).ok(), signal(SignalKind::interrupt()).ok())
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = wait(interrupt) => tracing::info!("Ctrl-C received, shutting down"),
                _ = wait(term) => tracing::info!("SIGTERM received, shutting down"),
            }
        }
        #[cfg(not(unix))]
        {
            if tokio::signal::ctrl_c().await.is_ok() {
                tracing::info!("Ctrl-C received, shutting down");
            }
        }
    }
}

/// Reads the team config file off the async runtime (it may be large or on
/// a slow disk).
pub async fn load_config(path: PathBuf) -> Result<TeamConfig, String> {
    tokio::task::spawn_blocking(move || TeamConfig::load(&path))
        .await
        .map_err(|e| format!("reading the team config failed: {e}"))?
}

/// SIGHUP re-reads the team config; a bad file keeps the old one and says
/// why. Without CONFIG there is nothing to reload: SIGHUP is logged and
/// ignored (its default action would kill the process, and the Docker image
/// sets no CONFIG).
pub fn reload_config_on_sighup(path: Option<PathBuf>, teams: Teams) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; the team config will not reload");
            return;
        };
        while hangups.recv().await.is_some() {
            let Some(path) = path.clone() else {
                tracing::info!("SIGHUP ignored: CONFIG is not set, so there is no team config to reload");
                continue;
            };
            match load_config(path).await {
                Ok(config) => {
                    tracing::info!(teams = config.teams.len(), "team config reloaded");
                    teams.replace(config);
                }
                Err(e) => tracing::error!(error = %e, "team config not reloaded; keeping the previous one"),
            }
        }
    });
}

/// A write past the file-size limit (RLIMIT_FSIZE, a quota-like cap) raises
/// SIGXFSZ, whose default action kills the process. With a handler installed
/// the write fails with EFBIG instead: SQLite rolls the transaction back,
/// that request gets 503, and writes work again once the limit is raised.
pub fn survive_file_size_limit() {
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
