//! The process signals, in one place: SIGTERM/Ctrl-C end the server, SIGHUP
//! reloads the team config, SIGXFSZ is survived.

use std::path::PathBuf;

use crate::teams::{TeamConfig, Teams};

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("Ctrl-C received, shutting down"),
        _ = term => tracing::info!("SIGTERM received, shutting down"),
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
