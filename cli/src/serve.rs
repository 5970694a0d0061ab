//! `unidb sync serve`, `unidb sync auth ...` and `unidb sync load`: the
//! network server, its auth file, and the load generator.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use clap::{Args, Subcommand};
use unidb_server::auth::{now_s, AuthFile, Rights};
use unidb_server::load::{Credentials, LoadOptions};
use unidb_server::partition::PartitionRules;
use unidb_server::{Server, ServerConfig, ServerError, ServerOptions};
use unidb_syncdb::Migration;

use crate::output::sig3;

/// Arguments of `unidb sync serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on, e.g. `0.0.0.0:7700` (port 0: any free port).
    #[arg(long)]
    pub listen: String,
    /// Data directory (logs and snapshots; created if absent).
    #[arg(long)]
    pub data: PathBuf,
    /// Auth file (`unidb sync auth new FILE`); required unless `--insecure`.
    #[arg(long)]
    pub auth: Option<PathBuf>,
    /// Serve every partition read-write to anyone, without tokens.
    #[arg(long, conflicts_with = "auth")]
    pub insecure: bool,
    /// Schema every partition starts with: a JSON array of migrations.
    #[arg(long)]
    pub schema: Option<PathBuf>,
    /// Limits and settings: a JSON object of `ServerConfig` fields.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Which partition each row belongs to, e.g.
    /// `{"tables": {"todos": {"column": "owner"}, "public_items": {"fixed": "public"}}}`;
    /// a write touching a row outside its connection's partition is
    /// refused.
    #[arg(long)]
    pub partition_rules: Option<PathBuf>,
}

/// Arguments of `unidb sync load`, with [`LoadOptions::default`] as
/// their defaults.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// The server, `ws://host:port`.
    #[arg(long, default_value_t = LoadOptions::default().server)]
    pub server: String,
    /// Concurrent clients.
    #[arg(long, value_parser = crate::at_least_one::<usize>, default_value_t = LoadOptions::default().clients)]
    pub clients: usize,
    /// Writes per client.
    #[arg(long, default_value_t = LoadOptions::default().ops)]
    pub ops: usize,
    /// Partitions `load-0` .. `load-{P-1}` (default: one per 10 clients).
    #[arg(long, value_parser = crate::at_least_one::<usize>)]
    pub partitions: Option<usize>,
    /// Mint a token per client from this auth file (a user with `rw` on
    /// the client's partition).
    #[arg(long, conflicts_with = "token")]
    pub auth: Option<PathBuf>,
    /// Every client presents this token.
    #[arg(long)]
    pub token: Option<String>,
    /// Aggregate writes per second to pace the clients at (0: as fast as
    /// acknowledgements come).
    #[arg(long, default_value_t = LoadOptions::default().rate)]
    pub rate: f64,
    /// Seconds a client waits for one answer before giving up.
    #[arg(long, default_value_t = LoadOptions::default().timeout_s)]
    pub timeout: f64,
    /// Replica ids derive from it: runs against one server need
    /// different seeds.
    #[arg(long, default_value_t = LoadOptions::default().seed)]
    pub seed: u64,
    /// Seconds every client stays connected, idle, after writing (to
    /// measure the server's memory per idle connection).
    #[arg(long, default_value_t = LoadOptions::default().hold_s)]
    pub hold: f64,
}

/// `unidb sync auth ...` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Write a new auth file with a fresh secret and no users (refuses to
    /// overwrite an existing file).
    New {
        /// The file.
        file: PathBuf,
    },
    /// Grant a user rights on partitions (adding the user if new).
    Add {
        /// The auth file.
        file: PathBuf,
        /// The user.
        #[arg(long)]
        user: String,
        /// A partition (repeat for several).
        #[arg(long = "partition", required = true)]
        partitions: Vec<String>,
        /// `r` (read) or `rw` (read and write).
        #[arg(long, default_value = "rw")]
        rights: String,
    },
    /// Remove a user (their tokens stop working).
    Remove {
        /// The auth file.
        file: PathBuf,
        /// The user.
        #[arg(long)]
        user: String,
    },
    /// Print a token for a user, with the user's partitions.
    Token {
        /// The auth file.
        file: PathBuf,
        /// The user.
        #[arg(long)]
        user: String,
        /// Seconds the token is valid.
        #[arg(long, default_value_t = 86_400)]
        ttl: u64,
    },
}

fn invalid(name: &str, reason: impl Into<String>) -> ServerError {
    ServerError::Invalid {
        name: name.to_owned(),
        reason: reason.into(),
    }
}

fn runtime() -> Result<tokio_rt::Runtime, ServerError> {
    tokio_rt::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| ServerError::Net {
            op: "start the async runtime",
            source: e,
        })
}

use unidb_server::runtime as tokio_rt;

/// Runs `sync serve`: prints the address and what recovery found, then
/// serves until the process is stopped.
///
/// # Errors
/// No `--auth` without `--insecure`; unreadable files; the server's
/// start-up errors.
pub fn serve(args: &ServeArgs, json: bool) -> Result<String, ServerError> {
    let auth = match (&args.auth, args.insecure) {
        (Some(path), _) => Some(AuthFile::load(path)?),
        (None, true) => None,
        (None, false) => {
            return Err(invalid(
                "--auth",
                "refusing to serve without an auth file: anyone could read and write every partition. Create one with `unidb sync auth new FILE`, or pass --insecure to serve without tokens",
            ))
        }
    };
    let schema: Vec<Migration> = match &args.schema {
        None => Vec::new(),
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| ServerError::Io {
                op: "read schema file",
                path: path.clone(),
                source: e,
            })?;
            serde_json::from_str(&text)
                .map_err(|e| invalid("--schema", format!("{}: {e}", path.display())))?
        }
    };
    let config: ServerConfig = match &args.config {
        None => ServerConfig::default(),
        Some(path) => {
            unidb_common::config::load_json(path).map_err(|e| invalid("--config", e.to_string()))?
        }
    };
    let rules: PartitionRules = match &args.partition_rules {
        None => PartitionRules::default(),
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| ServerError::Io {
                op: "read partition rules file",
                path: path.clone(),
                source: e,
            })?;
            serde_json::from_str(&text)
                .map_err(|e| invalid("--partition-rules", format!("{}: {e}", path.display())))?
        }
    };
    let options = ServerOptions {
        auth,
        schema,
        config,
        rules,
    };
    let rt = runtime()?;
    rt.block_on(async {
        let server = Server::bind(&args.listen, &args.data, options).await?;
        let addr = server.local_addr();
        let text = if json {
            let v = serde_json::json!({
                "listening": addr.to_string(),
                "insecure": args.insecure,
                "recovered": server.recovered(),
            });
            format!("{v}\n")
        } else {
            let mut out = format!("listening on {addr}\n");
            if args.insecure {
                out.push_str("warning: --insecure: no tokens, every partition is open to anyone\n");
            }
            for r in server.recovered() {
                let _ = writeln!(
                    out,
                    "partition {}: {} changes recovered in {} s (snapshot {}, {} log records)",
                    r.partition,
                    r.changes,
                    sig3(r.seconds),
                    r.report
                        .snapshot_generation
                        .map_or("none".to_owned(), |g| g.to_string()),
                    r.report.records
                );
                for (file, offset, dropped, reason) in &r.report.truncated {
                    let _ = writeln!(
                        out,
                        "partition {}: torn log tail truncated: {file} at byte {offset}, {dropped} bytes dropped ({reason})",
                        r.partition
                    );
                }
                if let Some(why) = &r.report.snapshot_fallback {
                    let _ = writeln!(out, "partition {}: {why}", r.partition);
                }
            }
            out
        };
        crate::output::emit(&text).map_err(|e| ServerError::Net {
            op: "write the output",
            source: e,
        })?;
        server.run().await
    })?;
    Ok(String::new())
}

/// Runs `sync auth ...`.
///
/// # Errors
/// An existing file for `new`; an unreadable or invalid auth file; an
/// invalid partition or rights; an unknown user.
pub fn auth(command: &AuthCommand, json: bool) -> Result<String, ServerError> {
    match command {
        AuthCommand::New { file } => {
            if file.exists() {
                return Err(invalid(
                    "FILE",
                    format!("{} exists; not overwriting its secret", file.display()),
                ));
            }
            AuthFile::generate()?.save(file)?;
            Ok(if json {
                format!("{}\n", serde_json::json!({ "file": file }))
            } else {
                format!("wrote {} (a new secret, no users)\n", file.display())
            })
        }
        AuthCommand::Add {
            file,
            user,
            partitions,
            rights,
        } => {
            let rights: Rights = rights.parse()?;
            let mut a = AuthFile::load(file)?;
            for p in partitions {
                a.grant(user, p, rights)?;
            }
            a.save(file)?;
            Ok(if json {
                format!(
                    "{}\n",
                    serde_json::json!({ "user": user, "partitions": a.users[user].partitions })
                )
            } else {
                format!(
                    "{user}: {} partition(s) with {rights:?} rights\n",
                    partitions.len()
                )
            })
        }
        AuthCommand::Remove { file, user } => {
            let mut a = AuthFile::load(file)?;
            if a.users.remove(user).is_none() {
                return Err(invalid("--user", format!("{user:?} is not in the file")));
            }
            a.save(file)?;
            Ok(if json {
                format!("{}\n", serde_json::json!({ "removed": user }))
            } else {
                format!("removed {user}\n")
            })
        }
        AuthCommand::Token { file, user, ttl } => {
            let a = AuthFile::load(file)?;
            let token = a.mint(user, *ttl, now_s())?;
            Ok(if json {
                format!(
                    "{}\n",
                    serde_json::json!({ "token": token, "expires": now_s() + ttl })
                )
            } else {
                format!("{token}\n")
            })
        }
    }
}

impl LoadArgs {
    /// The load these arguments ask for.
    ///
    /// # Errors
    /// An unreadable or invalid auth file; a negative rate or timeout.
    pub fn options(&self) -> Result<LoadOptions, ServerError> {
        if !(self.rate >= 0.0 && self.rate.is_finite()) {
            return Err(invalid(
                "--rate",
                "a number of writes per second, 0 or more",
            ));
        }
        if !(self.hold >= 0.0 && self.hold.is_finite()) {
            return Err(invalid("--hold", "a number of seconds, 0 or more"));
        }
        if !(self.timeout > 0.0 && self.timeout.is_finite()) {
            return Err(invalid("--timeout", "a positive number of seconds"));
        }
        let credentials = match (&self.auth, &self.token) {
            (Some(path), _) => Credentials::Auth(AuthFile::load(path)?),
            (None, Some(t)) => Credentials::Token(t.clone()),
            (None, None) => Credentials::None,
        };
        Ok(LoadOptions {
            server: self.server.clone(),
            clients: self.clients,
            ops: self.ops,
            partitions: self.partitions,
            credentials,
            rate: self.rate,
            timeout_s: self.timeout,
            seed: self.seed,
            hold_s: self.hold,
        })
    }
}

/// Runs `sync load` and returns its report (progress on a terminal).
///
/// # Errors
/// The errors of [`LoadArgs::options`] and of the load's set-up.
pub fn load(args: &LoadArgs, json: bool) -> Result<String, ServerError> {
    let options = args.options()?;
    let total = (options.clients * options.ops) as u64;
    let acked = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let bars = crate::output::StageBars::new(crate::output::progress_enabled(json));
    let report = std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(Ordering::SeqCst) {
                bars.update("acknowledged", acked.load(Ordering::Relaxed), total);
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        });
        let r =
            runtime().and_then(|rt| rt.block_on(unidb_server::load::run(&options, acked.clone())));
        done.store(true, Ordering::SeqCst);
        r
    })?;
    let failed = !report.converged || report.lost_acked_writes > 0;
    let text = render(&report, json)?;
    if failed {
        return Err(invalid(
            "load",
            format!("clients diverged or lost acknowledged writes:\n{text}"),
        ));
    }
    Ok(text)
}

fn render(report: &unidb_server::load::LoadReport, json: bool) -> Result<String, ServerError> {
    if json {
        let mut v = serde_json::to_value(report).map_err(|e| invalid("report", e.to_string()))?;
        if let Some(o) = v.as_object_mut() {
            if report.first_error.is_none() {
                o.remove("first_error");
            }
        }
        return Ok(format!("{v}\n"));
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "clients {} ({} refused) over {} partitions connected in {} s, writes {} ({} acknowledged) in {} s",
        report.clients,
        report.refused,
        report.partitions,
        sig3(report.connect_s),
        report.ops,
        report.acked,
        sig3(report.elapsed_s)
    );
    let _ = writeln!(
        out,
        "throughput {} writes/s ({} changes/s), round trip p50 {} ms, p99 {} ms",
        sig3(report.ops_s),
        sig3(report.changes_s),
        sig3(report.p50_ms),
        sig3(report.p99_ms)
    );
    let _ = writeln!(
        out,
        "converged: {}, lost acknowledged writes: {}",
        report.converged, report.lost_acked_writes
    );
    if let Some(e) = &report.first_error {
        let _ = writeln!(out, "first client error: {e}");
    }
    Ok(out)
}
