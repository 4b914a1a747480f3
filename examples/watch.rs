//! watch: prints the presence of a set of users as it changes.
//!
//! ```sh
//! cargo run --release -p rvp-server          # terminal 1: the demo server
//! cargo run --example watch                  # terminal 2: carol watches alice and bob
//! cargo run --example chat                   # terminal 3: alice signs on, `/state busy`
//! ```
//!
//! Options (flag, else environment variable, else default): `--server` (`RVP_SERVER`,
//! `127.0.0.1:8080`), `--user` (`RVP_USER`, `carol@localhost`), `--password`
//! (`RVP_PASSWORD`, `<alias>-demo`), `--watch` (`RVP_WATCH`, comma-separated addresses,
//! `alice@localhost,bob@localhost`), `--exit-after <seconds>`.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use rvp_client::Event;
use rvp_client::driver::{Client, ClientConfig};
use rvp_resolve::Address;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Who signs on where, and whom to watch.
#[derive(Debug, Clone)]
pub struct Options {
    /// The server to connect to.
    pub server: SocketAddr,
    /// The sign-in address.
    pub user: String,
    /// The password.
    pub password: String,
    /// The addresses to watch.
    pub watch: Vec<String>,
    /// Sign off after this long (`None`: run until stopped).
    pub exit_after: Option<Duration>,
}

impl Options {
    /// Reads the flags and variables listed in the module documentation.
    pub fn from_args(mut args: impl Iterator<Item = String>) -> Result<Options, BoxError> {
        let var = |k: &str| std::env::var(k).ok();
        let (mut server, mut user, mut password) =
            (var("RVP_SERVER"), var("RVP_USER"), var("RVP_PASSWORD"));
        let mut watch = var("RVP_WATCH");
        let mut exit_after = None;
        while let Some(flag) = args.next() {
            let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
            match flag.as_str() {
                "--server" => server = Some(value()?),
                "--user" => user = Some(value()?),
                "--password" => password = Some(value()?),
                "--watch" => watch = Some(value()?),
                "--exit-after" => exit_after = Some(Duration::from_secs_f64(value()?.parse()?)),
                other => return Err(format!("unknown option {other}").into()),
            }
        }
        let user = user.unwrap_or_else(|| "carol@localhost".to_owned());
        let alias = user.split('@').next().unwrap_or_default();
        let watch = watch.unwrap_or_else(|| "alice@localhost,bob@localhost".to_owned());
        Ok(Options {
            server: server.as_deref().unwrap_or("127.0.0.1:8080").parse()?,
            password: password.unwrap_or_else(|| format!("{alias}-demo")),
            user,
            watch: watch
                .split(',')
                .map(|w| w.trim().to_owned())
                .filter(|w| !w.is_empty())
                .collect(),
            exit_after,
        })
    }
}

/// Watches until `exit_after` passes or `stop` completes.
pub async fn run(
    opts: Options,
    out: &mut (dyn Write + Send),
    stop: impl Future<Output = ()>,
) -> Result<(), BoxError> {
    let mut config = ClientConfig::new(opts.user.parse()?, opts.password)?;
    config.server = Some(opts.server);
    for w in &opts.watch {
        config
            .session
            .watch_list
            .push(w.parse::<Address>()?.logical_url()?);
    }
    let mut client = Client::connect(config).await?;
    let exit = async {
        match opts.exit_after {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    let (mut exit, mut stop) = (std::pin::pin!(exit), std::pin::pin!(stop));
    loop {
        let event = tokio::select! {
            e = client.next_event() => e,
            () = &mut exit => break,
            () = &mut stop => break,
        };
        let me = client.me().clone();
        match event {
            Some(Event::SignedOn { .. }) => writeln!(
                out,
                "signed on as {}, watching {}",
                me.alias(),
                opts.watch.join(", ")
            )?,
            Some(Event::Watching {
                who, display_name, ..
            }) => writeln!(
                out,
                "watching {} ({})",
                Address::from_logical_url(&who)?,
                display_name.as_deref().unwrap_or("no display name")
            )?,
            Some(Event::Presence { who, state }) if who != me => {
                writeln!(out, "{} is {state}", Address::from_logical_url(&who)?)?;
            }
            Some(Event::WatchFailed { who, reason }) => {
                writeln!(out, "cannot watch {who}: {reason}")?
            }
            Some(Event::Disconnected { reason }) => {
                writeln!(out, "disconnected ({reason}), retrying")?
            }
            Some(_) => {}
            None => return client.finish().await.map_err(Into::into),
        }
    }
    client.sign_off().await?;
    Ok(())
}

#[allow(dead_code)]
#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let result = match Options::from_args(std::env::args().skip(1)) {
        Ok(opts) => run(opts, &mut std::io::stdout(), std::future::pending()).await,
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        eprintln!("watch: {e}");
        return std::process::ExitCode::FAILURE;
    }
    std::process::ExitCode::SUCCESS
}
