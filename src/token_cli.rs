//! `em-metrics token create|list|revoke`: API tokens on the configured
//! database, with or without a server running (the store's writes wait for
//! a running server's like any other writer's).
//!
//! `create` prints the secret alone on stdout, so
//! `TOKEN=$(em-metrics token create ...)` works; everything else goes to
//! stderr. Each change is in the audit log, with the actor `cli`.

use std::io::Write;

use crate::auth::token_secret;
use crate::config::cli::{TokenCommand, TokenCreateArgs};
use crate::config::duration_ms;
use crate::domain::token::{NewToken, Role, Token};
use crate::domain::{Context, Id, Scope};
use crate::store::{AuditRecord, Store};
use crate::time::Timestamp;

/// Who the audit log says made a change from the command line.
pub const ACTOR: &str = "cli";

/// Runs one token command; Err is the line to print before exit code 1.
pub fn run(store: &Store, default_environment: Id, command: TokenCommand) -> Result<(), String> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        match command {
            TokenCommand::Create(args) => create(store, args, default_environment).await,
            TokenCommand::List => list(store).await,
            TokenCommand::Revoke(args) => revoke(store, &args.name).await,
        }
    })
}

async fn create(store: &Store, args: TokenCreateArgs, default_environment: Id) -> Result<(), String> {
    let role = Role::parse(args.role.trim())
        .ok_or_else(|| format!("--role `{}` is not one of ingest, read, write, admin", args.role))?;
    let projects: Vec<Id> = args
        .projects
        .iter()
        .map(|p| Id::parse(p.trim()).map_err(|why| format!("--project {why}")))
        .collect::<Result<_, _>>()?;
    let now = Timestamp::now();
    let expires_at = match args.expires_in.as_deref() {
        None => None,
        Some(text) => {
            let ms = duration_ms("--expires-in", text, "90d or 12h").map_err(|e| e.message)?;
            if ms <= 0 {
                return Err("--expires-in must be more than 0".into());
            }
            Some(Timestamp::from_millis(now.millis().saturating_add(ms)))
        }
    };
    let (secret, hash) = token_secret::generate().ok_or("no secure random numbers to make a token from")?;
    let cmd = NewToken { name: args.name, role, projects: (!projects.is_empty()).then_some(projects), expires_at };
    let ctx = context(now, default_environment);
    let t = store.apply(move |tx| tx.create_token(cmd, hash, &ctx)).await.map_err(|e| e.to_string())?;
    record(store, "POST", "/tokens", &t.value.name, 201).await;
    // The secret alone on stdout; the rest is for the person at the terminal.
    println!("{secret}");
    let _ = std::io::stdout().flush();
    eprintln!("token {}: {}", t.value.name, describe(&t.value));
    eprintln!("it is shown this once: only its SHA-256 is stored");
    Ok(())
}

async fn list(store: &Store) -> Result<(), String> {
    let tokens = store.tokens().await.map_err(|e| e.to_string())?;
    if tokens.is_empty() {
        eprintln!("no API tokens");
    }
    for t in tokens {
        println!("{}\t{}", t.name, describe(&t));
    }
    Ok(())
}

async fn revoke(store: &Store, name: &str) -> Result<(), String> {
    let owned = name.to_string();
    store.apply(move |tx| tx.revoke_token(&owned)).await.map_err(|e| e.to_string())?;
    record(store, "DELETE", "/tokens/{name}", name, 204).await;
    eprintln!("token {name} revoked; its dashboard sessions ended");
    Ok(())
}

/// Role, projects, expiry and last use, on one line.
fn describe(t: &Token) -> String {
    let projects = match &t.projects {
        None => "all projects".to_string(),
        Some(list) => format!("projects {}", list.iter().map(Id::as_str).collect::<Vec<_>>().join(",")),
    };
    let expires = t.expires_at.map_or("never expires".to_string(), |at| format!("expires {at}"));
    let used = t.last_used_at.map_or("never used".to_string(), |at| format!("last used {at}"));
    format!("role {}, {projects}, {expires}, {used}", t.role.as_str())
}

/// The command line acts for every project; token rules need only the clock.
fn context(now: Timestamp, default_environment: Id) -> Context {
    let mut ctx = Context::at(now, default_environment);
    ctx.actor = ACTOR.into();
    ctx.scope = Scope::All;
    ctx
}

async fn record(store: &Store, method: &str, route: &str, target: &str, status: u16) {
    let record = AuditRecord {
        at: Timestamp::now(),
        actor: ACTOR.into(),
        method: method.into(),
        route: route.into(),
        target: Some(target.into()),
        status,
    };
    if let Err(e) = store.record_audit(vec![record]).await {
        eprintln!("warning: the audit record was not stored: {e}");
    }
}
