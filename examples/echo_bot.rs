//! echo_bot: signs in and answers every instant message with its own text.
//!
//! ```sh
//! cargo run --release -p rvp-server          # terminal 1: the demo server
//! cargo run --example echo_bot               # terminal 2: bob@localhost echoes
//! cargo run --example chat                   # terminal 3: alice writes to bob
//! ```
//!
//! Options (flag, else environment variable, else default): `--server` (`RVP_SERVER`,
//! `127.0.0.1:8080`), `--user` (`RVP_USER`, `bob@localhost`), `--password`
//! (`RVP_PASSWORD`, `<alias>-demo`, the demo passwords of `rvp-server`), `--exit-after
//! <seconds>` (sign off after that long; default: run until Ctrl-C).

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use rvp_client::Event;
use rvp_client::driver::{Client, ClientConfig};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What the bot is told to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// The server to connect to.
    pub server: SocketAddr,
    /// The sign-in address.
    pub user: String,
    /// The password.
    pub password: String,
    /// Sign off after this long (`None`: run until stopped).
    pub exit_after: Option<Duration>,
}

impl Options {
    /// Reads `--server`, `--user`, `--password`, `--exit-after` (and their variables).
    pub fn from_args(
        mut args: impl Iterator<Item = String>,
        default_user: &str,
    ) -> Result<Options, BoxError> {
        let var = |k: &str| std::env::var(k).ok();
        let (mut server, mut user, mut password) =
            (var("RVP_SERVER"), var("RVP_USER"), var("RVP_PASSWORD"));
        let mut exit_after = None;
        while let Some(flag) = args.next() {
            let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
            match flag.as_str() {
                "--server" => server = Some(value()?),
                "--user" => user = Some(value()?),
                "--password" => password = Some(value()?),
                "--exit-after" => exit_after = Some(Duration::from_secs_f64(value()?.parse()?)),
                other => return Err(format!("unknown option {other}").into()),
            }
        }
        let user = user.unwrap_or_else(|| default_user.to_owned());
        let alias = user.split('@').next().unwrap_or_default();
        Ok(Options {
            server: server.as_deref().unwrap_or("127.0.0.1:8080").parse()?,
            password: password.unwrap_or_else(|| format!("{alias}-demo")),
            user,
            exit_after,
        })
    }
}

/// Runs the bot until `exit_after` passes or `stop` completes; returns how many messages
/// it echoed.
pub async fn run(
    opts: Options,
    out: &mut (dyn Write + Send),
    stop: impl Future<Output = ()>,
) -> Result<usize, BoxError> {
    let mut config = ClientConfig::new(opts.user.parse()?, opts.password)?;
    config.server = Some(opts.server);
    let mut client = Client::connect(config).await?;
    let exit = async {
        match opts.exit_after {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    let (mut exit, mut stop) = (std::pin::pin!(exit), std::pin::pin!(stop));
    let mut echoed = 0;
    // The whole event loop: react to what the session reports.
    loop {
        let event = tokio::select! {
            e = client.next_event() => e,
            () = &mut exit => break,
            () = &mut stop => break,
        };
        match event {
            Some(Event::SignedOn { .. }) => writeln!(out, "signed on as {}", client.me())?,
            Some(Event::Message { from, text, .. }) => {
                writeln!(out, "{}: {text}", from.alias())?;
                client
                    .handle()
                    .send_message(&from, &format!("echo: {text}"))
                    .await?;
                echoed += 1;
            }
            Some(Event::NotDelivered { to, reason, .. }) => {
                writeln!(out, "could not answer {}: {reason}", to.alias())?;
            }
            Some(Event::Disconnected { reason }) => {
                writeln!(out, "disconnected ({reason}), retrying")?
            }
            Some(_) => {}
            // The client stopped (sign-on refused, or gave up reconnecting).
            None => return client.finish().await.map(|()| echoed).map_err(Into::into),
        }
    }
    client.sign_off().await?;
    writeln!(out, "signed off after {echoed} messages")?;
    Ok(echoed)
}

#[allow(dead_code)]
#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let result = match Options::from_args(std::env::args().skip(1), "bob@localhost") {
        Ok(opts) => run(opts, &mut std::io::stdout(), std::future::pending()).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("echo_bot: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
