//! `rvp-admin`: administration of an `rvp-server` from the command line.
//!
//! ```text
//! rvp-admin archive verify <dir> [--anchor SEQ:HASH]   # exit 0 intact, 1 not intact, 2 error
//! rvp-admin archive export <dir> [--since TIME] [--text] > records.jsonl
//! rvp-admin archive prune  <dir> --older-than 90d
//! ```
//!
//! One subcommand per area (`archive` today), each with its own actions, so that later
//! areas (users, DNS checks, configuration checks) are further variants of [`Command`]
//! with their own module. Exit status: 0 done (archive intact), 1 the archive is not
//! intact, 2 the command could not run (usage, unreadable files, output).

mod archive;
mod json;
mod time;

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
            ExitCode::from(2)
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
