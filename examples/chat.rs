//! chat: an interactive terminal client — sign in, a buddy list with live presence,
//! instant messages both ways. Line-based: type commands on standard input.
//!
//! ```sh
//! cargo run --release -p rvp-server          # terminal 1: the demo server
//! cargo run --example echo_bot               # terminal 2: bob@localhost echoes
//! cargo run --example chat                   # terminal 3: alice; type `hello bob`
//! ```
//!
//! Commands: `<text>` (to the current peer), `/to <user>` (change peer), `/msg <user>
//! <text>`, `/list`, `/state <online|busy|away|back-soon|on-phone|at-lunch|idle>`,
//! `/watch <user>`, `/unwatch <user>`, `/block <user>`, `/allow <user>`, `/help`, `/quit`.
//! A user is `alias` (same domain) or `alias@domain`.
//!
//! Options (flag, else environment variable, else default): `--server` (`RVP_SERVER`,
//! `127.0.0.1:8080`), `--user` (`RVP_USER`, `alice@localhost`), `--password`
//! (`RVP_PASSWORD`, `<alias>-demo`), `--buddies` (`RVP_BUDDIES`, `bob,carol`),
//! `--exit-after <seconds>`.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use rvp_client::driver::{Client, ClientConfig, Handle};
use rvp_client::{AclRule, Event};
use rvp_proto::PresenceState;
use rvp_proto::url::LogicalUrl;
use rvp_resolve::Address;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Who signs on where, and the initial buddy list.
#[derive(Debug, Clone)]
pub struct Options {
    /// The server to connect to.
    pub server: SocketAddr,
    /// The sign-in address.
    pub user: String,
    /// The password.
    pub password: String,
    /// The initial buddy list (`alias` or `alias@domain`).
    pub buddies: Vec<String>,
    /// Sign off after this long (`None`: run until stopped).
    pub exit_after: Option<Duration>,
}

impl Options {
    /// Reads the flags and variables listed in the module documentation.
    pub fn from_args(mut args: impl Iterator<Item = String>) -> Result<Options, BoxError> {
        let var = |k: &str| std::env::var(k).ok();
        let (mut server, mut user, mut password) =
            (var("RVP_SERVER"), var("RVP_USER"), var("RVP_PASSWORD"));
        let mut buddies = var("RVP_BUDDIES");
        let mut exit_after = None;
        while let Some(flag) = args.next() {
            let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
            match flag.as_str() {
                "--server" => server = Some(value()?),
                "--user" => user = Some(value()?),
                "--password" => password = Some(value()?),
                "--buddies" => buddies = Some(value()?),
                "--exit-after" => exit_after = Some(Duration::from_secs_f64(value()?.parse()?)),
                other => return Err(format!("unknown option {other}").into()),
            }
        }
        let user = user.unwrap_or_else(|| "alice@localhost".to_owned());
        let alias = user.split('@').next().unwrap_or_default();
        let buddies = buddies.unwrap_or_else(|| "bob,carol".to_owned());
        Ok(Options {
            server: server.as_deref().unwrap_or("127.0.0.1:8080").parse()?,
            password: password.unwrap_or_else(|| format!("{alias}-demo")),
            user,
            buddies: buddies
                .split(',')
                .map(|b| b.trim().to_owned())
                .filter(|b| !b.is_empty())
                .collect(),
            exit_after,
        })
    }
}

const HELP: &str = "<text> | /to <user> | /msg <user> <text> | /list | /state <state> | \
/watch <user> | /unwatch <user> | /block <user> | /allow <user> | /quit";

/// `alias` or `alias@domain` → logical URL (`domain` defaults to the own one).
fn user_url(text: &str, me: &LogicalUrl) -> Result<LogicalUrl, BoxError> {
    let address = if text.contains('@') {
        text.parse::<Address>()?
    } else {
        Address::new(text, Address::from_logical_url(me)?.domain())?
    };
    Ok(address.logical_url()?)
}

fn name(url: &LogicalUrl) -> String {
    Address::from_logical_url(url).map_or_else(|_| url.to_string(), |a| a.to_string())
}

/// Runs one command line; `Ok(false)` on `/quit`.
async fn command(
    line: &str,
    client: &Handle,
    me: &LogicalUrl,
    peer: &mut Option<LogicalUrl>,
    out: &mut (dyn Write + Send),
) -> Result<bool, BoxError> {
    let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
    let rest = rest.trim();
    match word {
        "/quit" => return Ok(false),
        "/help" => writeln!(out, "{HELP}")?,
        "/to" => *peer = Some(user_url(rest, me)?),
        "/msg" => {
            let (to, text) = rest.split_once(' ').ok_or("usage: /msg <user> <text>")?;
            let to = user_url(to, me)?;
            client.send_message(&to, text).await?;
            *peer = Some(to);
        }
        "/list" => {
            for b in client.buddies().await? {
                let state = b
                    .state
                    .map_or_else(|| "unknown".to_owned(), |s| s.to_string());
                writeln!(
                    out,
                    "  {} ({}) {state}",
                    name(&b.who),
                    b.display_name.as_deref().unwrap_or("-")
                )?;
            }
        }
        "/state" => {
            let state = PresenceState::from_local_name(rest)
                .ok_or("usage: /state <online|busy|away|...>")?;
            client.set_state(state).await?;
        }
        "/watch" => client.watch(&user_url(rest, me)?).await?,
        "/unwatch" => client.unwatch(&user_url(rest, me)?).await?,
        "/block" => drop(
            client
                .set_rule(&user_url(rest, me)?, AclRule::Block)
                .await?,
        ),
        "/allow" => drop(
            client
                .set_rule(&user_url(rest, me)?, AclRule::Allow)
                .await?,
        ),
        w if w.starts_with('/') => writeln!(out, "unknown command {w}")?,
        _ => match peer {
            Some(to) => drop(client.send_message(to, line).await?),
            None => writeln!(out, "no peer yet: /to <user> or /msg <user> <text>")?,
        },
    }
    Ok(true)
}

/// Chats until `/quit`, the end of `input`, `exit_after`, or `stop`.
pub async fn run(
    opts: Options,
    mut input: impl AsyncBufRead + Unpin,
    out: &mut (dyn Write + Send),
    stop: impl Future<Output = ()>,
) -> Result<(), BoxError> {
    let mut config = ClientConfig::new(opts.user.parse()?, opts.password)?;
    config.server = Some(opts.server);
    let me = config.session.me.clone();
    for b in &opts.buddies {
        config.session.watch_list.push(user_url(b, &me)?);
    }
    let mut client = Client::connect(config).await?;
    let handle = client.handle();
    let exit = async {
        match opts.exit_after {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    let (mut exit, mut stop) = (std::pin::pin!(exit), std::pin::pin!(stop));
    let mut peer: Option<LogicalUrl> = None;
    let mut line = String::new();
    loop {
        tokio::select! {
            // Not cancel-safe by itself: a partly read line stays in `line` and the next
            // read appends to it, so `line` is only cleared once a whole line was read.
            read = input.read_line(&mut line) => {
                if read? == 0 {
                    break;
                }
                let text = std::mem::take(&mut line);
                let text = text.trim();
                if text.is_empty() {
                    continue;
                }
                match command(text, &handle, &me, &mut peer, out).await {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) => writeln!(out, "! {e}")?,
                }
            }
            event = client.next_event() => match event {
                Some(Event::SignedOn { display_name }) => writeln!(out, "signed on as {} ({}); /help lists the commands", name(&me), display_name.as_deref().unwrap_or("-"))?,
                Some(Event::Presence { who, state }) if who != me => writeln!(out, "* {} is {state}", name(&who))?,
                Some(Event::Message { from, text, .. }) => {
                    writeln!(out, "[{}] {text}", name(&from))?;
                    peer.get_or_insert(from);
                }
                Some(Event::Typing { from, .. }) => writeln!(out, "* {} is typing", name(&from))?,
                Some(Event::Left { from, .. }) => writeln!(out, "* {} left the conversation", name(&from))?,
                Some(Event::NotDelivered { to, reason, .. }) => writeln!(out, "! not delivered to {}: {reason}", name(&to))?,
                Some(Event::RuleSet { who, rule }) => writeln!(out, "* {:?} {}", rule, name(&who))?,
                Some(Event::StateSet { state, .. }) => writeln!(out, "* you are {state}")?,
                Some(Event::Disconnected { reason }) => writeln!(out, "! disconnected ({reason}), retrying")?,
                Some(_) => {}
                None => return client.finish().await.map_err(Into::into),
            },
            () = &mut exit => break,
            () = &mut stop => break,
        }
    }
    client.sign_off().await?;
    writeln!(out, "signed off")?;
    Ok(())
}

#[allow(dead_code)]
#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let result = match Options::from_args(std::env::args().skip(1)) {
        Ok(opts) => {
            let stdin = tokio::io::BufReader::new(tokio::io::stdin());
            run(opts, stdin, &mut std::io::stdout(), std::future::pending()).await
        }
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        eprintln!("chat: {e}");
        return std::process::ExitCode::FAILURE;
    }
    std::process::ExitCode::SUCCESS
}
