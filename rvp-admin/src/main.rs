//! `rvp-admin`: administration of an `rvp-server` from the command line.
//!
//! ```text
//! rvp-admin archive verify <dir> [--anchor SEQ:HASH]   # exit 0 intact, 1 not intact, 2 error
//! rvp-admin archive export <dir> [--since TIME] [--text] > records.jsonl
//! rvp-admin archive prune  <dir> --older-than 90d
//! rvp-admin dns --config server.toml [--address IP] [--ttl SECS]  # the zone-file lines a domain needs
//! rvp-admin check alice@example.org --nameserver IP:PORT       # SRV -> router -> home, in words
//! rvp-admin check alice@example.org --server IP:PORT           # the same without DNS
//! rvp-admin config check --config server.toml                   # valid? users librvp cannot sign on as
//! rvp-admin user list|show|enable|disable|passwd|add|remove [ALIAS] --config server.toml  # users
//! ```
//!
//! One subcommand per area (`archive` today), each with its own actions, so that later
//! areas (users, DNS checks, configuration checks) are further variants of [`Command`]
//! with their own module. Exit status: 0 done (archive intact), 1 the archive is not
//! intact, 2 the command could not run (usage, unreadable files, output).

// The doc comments of the commands are their `--help` texts (clap), where `[[users]]` is
// the TOML table the user edits, not an intra-doc link: rustdoc must not read it as one.
#![allow(rustdoc::broken_intra_doc_links)]

mod archive;
mod check;
mod dns;
mod json;
mod time;
mod user;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use clap::{Parser, Subcommand};

/// Administration of an rvp-server (RVP, the Exchange 2000 Instant Messaging protocol).
#[derive(Debug, Parser)]
#[command(name = "rvp-admin", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The areas `rvp-admin` administers.
#[derive(Debug, Subcommand)]
enum Command {
    /// The compliance archive of relayed NOTIFYs (`[archive] path` of the server's
    /// configuration).
    #[command(subcommand)]
    Archive(ArchiveCommand),
    /// Print the DNS records (zone-file lines) the IM domain of a configuration needs:
    /// `_rvp._tcp` SRV and the address records of the server and its home servers.
    Dns {
        /// The server's configuration file.
        #[arg(long)]
        config: PathBuf,
        /// The server's public address (for its A/AAAA record); default: the listen
        /// address when it is a specific, non-loopback one.
        #[arg(long)]
        address: Option<std::net::IpAddr>,
        /// The domain of sign-in names (`alice@example.org`), when it is not the IM domain
        /// itself: the SRV record is looked up there and points at the IM domain.
        #[arg(long, value_name = "DOMAIN")]
        sign_in_domain: Option<String>,
        /// TTL of the records, in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: u32,
    },
    /// Walk what a client does to reach `alias@domain` (SRV, router, 302 to the home
    /// server) and say what works and what does not. Exit status 0 reached, 1 not.
    Check {
        /// The sign-in name, `alias@domain`.
        address: rvp_resolve::Address,
        /// The DNS server to ask (`ip:port`); the system's resolver is never read.
        #[arg(long, conflicts_with = "server", required_unless_present = "server")]
        nameserver: Option<std::net::SocketAddr>,
        /// Skip DNS and start at this server (`ip:port`).
        #[arg(long)]
        server: Option<std::net::SocketAddr>,
    },
    /// The server's configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// The users of the server's directory (its [[users]], or LDAP): list, show, enable,
    /// disable, set the password; add and remove (the file). Exit status 0 done, 1 the directory refused (or the
    /// file could not be written), 2 invalid input, 3 no such user, 4 the directory
    /// cannot be reached.
    #[command(subcommand)]
    User(user::UserCommand),
}

/// `rvp-admin config ...`.
#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Check a configuration file as the server would read it; warn about users whose
    /// password librvp (Pidgin) cannot use. Exit status 0 valid, 1 invalid.
    Check {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
    },
}

/// `rvp-admin archive ...`.
#[derive(Debug, Subcommand)]
enum ArchiveCommand {
    /// Check every record and the hash chain; name the first altered, missing or
    /// reordered record. Exit status 0 intact, 1 not intact, 2 could not read.
    Verify {
        /// The archive directory.
        dir: PathBuf,
        /// Also require record SEQ to have hash HASH (as an earlier `verify` printed
        /// the head): detects records cut off the end and a rewritten chain.
        #[arg(long, value_name = "SEQ:HASH", value_parser = archive::parse_anchor)]
        anchor: Option<archive::Anchor>,
    },
    /// Print the records as JSON lines (seq, time, sender, recipient, deliveries, body,
    /// hash), verifying as it goes: a problem ends the export with status 1.
    Export {
        /// The archive directory.
        dir: PathBuf,
        /// Only records received at or after TIME: RFC 3339 (`2026-12-01T00:00:00Z`) or
        /// a duration before now (`24h`, `7d`).
        #[arg(long, value_name = "TIME", value_parser = parse_since)]
        since: Option<SystemTime>,
        /// Bodies as UTF-8 text (`body`) where they are valid UTF-8, else base64
        /// (`body_base64`, the default for all).
        #[arg(long)]
        text: bool,
    },
    /// Delete whole segments whose records are all older than AGE (the newest segment is
    /// never deleted; what remains still verifies). Safe while the server runs.
    Prune {
        /// The archive directory.
        dir: PathBuf,
        /// `90d`, `12h`, ... (as in the server's configuration).
        #[arg(long, value_name = "AGE", value_parser = parse_age)]
        older_than: Duration,
    },
}

fn parse_since(text: &str) -> Result<SystemTime, String> {
    time::parse_point(text, SystemTime::now()).ok_or_else(|| {
        format!(
            "{text:?}: expected an RFC 3339 time (2026-12-01T00:00:00Z) or a duration (24h, 7d)"
        )
    })
}

fn parse_age(text: &str) -> Result<Duration, String> {
    time::parse_age(text).ok_or_else(|| format!("{text:?}: expected a duration such as 12h or 90d"))
}

/// What a command found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Done; the archive is intact.
    Ok,
    /// The archive is not intact (the report says where).
    Problem,
}

/// Why a command could not run.
#[derive(Debug, thiserror::Error)]
enum AdminError {
    /// Reading or changing the archive failed.
    #[error(transparent)]
    Archive(#[from] rvp_server::archive::ArchiveError),
    /// Writing the output failed.
    #[error("cannot write the output: {0}")]
    Output(std::io::Error),
    /// The configuration could not be read or is invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// A `user` command failed (its own exit status).
    #[error(transparent)]
    User(#[from] user::UserError),
}

fn run(cli: Cli) -> Result<Outcome, AdminError> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let outcome = match cli.command {
        Command::Archive(ArchiveCommand::Verify { dir, anchor }) => {
            archive::verify(&dir, anchor, &mut out)
        }
        Command::Archive(ArchiveCommand::Export { dir, since, text }) => {
            archive::export(&dir, since, text, &mut out, &mut std::io::stderr())
        }
        Command::Archive(ArchiveCommand::Prune { dir, older_than }) => {
            archive::prune(&dir, older_than, &mut out)
        }
        Command::Dns {
            config,
            address,
            sign_in_domain,
            ttl,
        } => {
            let config = rvp_server::config::Config::from_file(&config)
                .map_err(|e| AdminError::Config(e.to_string()))?;
            dns::print(&config, sign_in_domain.as_deref(), address, ttl, &mut out)
                .map_err(AdminError::Output)?;
            Ok(Outcome::Ok)
        }
        Command::Check {
            address,
            nameserver,
            server,
        } => {
            let start = match (server, nameserver) {
                (Some(s), _) => check::Start::Server(s),
                (None, Some(ns)) => check::Start::Dns(ns),
                (None, None) => {
                    return Err(AdminError::Config("give --nameserver or --server".into()));
                }
            };
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(AdminError::Output)?;
            let report = runtime.block_on(check::walk(&address, start));
            let ok = check::print(&report, &mut out).map_err(AdminError::Output)?;
            Ok(if ok { Outcome::Ok } else { Outcome::Problem })
        }
        Command::User(command) => {
            user::run(command, &mut out, &mut std::io::stderr())?;
            Ok(Outcome::Ok)
        }
        Command::Config(ConfigCommand::Check { config }) => {
            match rvp_server::config::Config::from_file(&config) {
                Ok(c) => {
                    writeln!(out, "{}: valid.", config.display()).map_err(AdminError::Output)?;
                    for w in c.librvp_warnings() {
                        writeln!(out, "warning: {w}").map_err(AdminError::Output)?;
                    }
                    Ok(Outcome::Ok)
                }
                Err(e) => {
                    writeln!(out, "{e}").map_err(AdminError::Output)?;
                    Ok(Outcome::Problem)
                }
            }
        }
    }?;
    out.flush().map_err(AdminError::Output)?;
    Ok(outcome)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Problem) => ExitCode::from(1),
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "rvp-admin: {e}");
            ExitCode::from(match &e {
                AdminError::User(u) => u.exit_code(),
                _ => 2,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }
}
