//! One librvp client: a running front end process, its commands and its events.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rvp_proto::state::PresenceState;

use crate::HarnessError;
use crate::event::{Event, ParseError, escape};
use crate::frontend::Frontend;

/// How many transcript lines an error message quotes.
pub const ERROR_TAIL_LINES: usize = 30;

/// The default bound on the front end's life after a sign-off (`--exit-timeout`).
pub const DEFAULT_EXIT_TIMEOUT: Duration = Duration::from_secs(10);

/// How to start a client. Build with [`PurpleOptions::new`] and the setters.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PurpleOptions {
    /// Sign-in name, `user@domain` (`alice@localhost` signs on to `http://localhost/`).
    pub user: String,
    /// Password, handed over in the environment (not on the command line). `None`: no
    /// password (a server that challenges then fails the sign-on).
    pub password: Option<String>,
    /// librvp account options (`key`, `value`), e.g. `("domain", "CORP")`. The front end
    /// already sets `myhost=127.0.0.1` and `no_upnp_nat=true`.
    pub account_options: Vec<(String, String)>,
    /// libpurple preferences (`path`, `value`), e.g. `("/plugins/prpl/rvp/fast_logout", "true")`.
    pub prefs: Vec<(String, String)>,
    /// State to sign on with (default: online).
    pub initial_state: Option<PresenceState>,
    /// Wait for [`PurpleClient::login`] instead of signing on at start.
    pub no_login: bool,
    /// Bound on the process's life after a sign-off; it then exits with `exit timeout`.
    pub exit_timeout: Duration,
    /// Set `PURPLE_DEBUG=1`: librvp logs every request to the stderr log.
    pub debug: bool,
    /// Program and arguments to run the front end under (e.g. `unshare`, `nsenter`); empty
    /// for none.
    pub wrapper: Vec<OsString>,
    /// The front end to run; `None`: [`Frontend::get`].
    pub frontend: Option<Frontend>,
}

impl PurpleOptions {
    /// Options for `user` with every default.
    pub fn new(user: impl Into<String>) -> PurpleOptions {
        PurpleOptions {
            user: user.into(),
            password: None,
            account_options: Vec::new(),
            prefs: Vec::new(),
            initial_state: None,
            no_login: false,
            exit_timeout: DEFAULT_EXIT_TIMEOUT,
            debug: false,
            wrapper: Vec::new(),
            frontend: None,
        }
    }

    /// Sets the password.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// Adds a librvp account option.
    pub fn account_option(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.account_options.push((key.into(), value.into()));
        self
    }

    /// Adds a libpurple preference.
    pub fn pref(mut self, path: impl Into<String>, value: impl Into<String>) -> Self {
        self.prefs.push((path.into(), value.into()));
        self
    }

    /// Sets the state to sign on with.
    pub fn initial_state(mut self, state: PresenceState) -> Self {
        self.initial_state = Some(state);
        self
    }

    /// Defers sign-on until [`PurpleClient::login`].
    pub fn no_login(mut self) -> Self {
        self.no_login = true;
        self
    }

    /// Sets the bound on the process's life after a sign-off.
    pub fn exit_timeout(mut self, timeout: Duration) -> Self {
        self.exit_timeout = timeout;
        self
    }

    /// Turns on librvp's debug log (in [`PurpleClient::stderr_log`]).
    pub fn debug(mut self, on: bool) -> Self {
        self.debug = on;
        self
    }

    /// Runs the front end under a wrapper program.
    pub fn wrapper<I, S>(mut self, program_and_args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.wrapper = program_and_args.into_iter().map(Into::into).collect();
        self
    }

    /// Uses this front end instead of [`Frontend::get`].
    pub fn frontend(mut self, frontend: Frontend) -> Self {
        self.frontend = Some(frontend);
        self
    }
}

/// A line read from the front end: the parsed event, or the line that failed to parse.
type Received = Result<Event, (String, ParseError)>;

/// A running librvp client (one front end process, one account).
///
/// Events are kept in arrival order; [`expect`](Self::expect) takes the first one that
/// matches, looking first at events that earlier calls passed over, so waiting for one event
/// never loses another. Dropping the client kills the process and removes its configuration
/// folder (kept, with its stderr log, when the thread is panicking).
#[derive(Debug)]
pub struct PurpleClient {
    user: String,
    child: Child,
    stdin: Option<ChildStdin>,
    events: Receiver<Received>,
    backlog: VecDeque<Event>,
    transcript: Arc<Mutex<Vec<String>>>,
    dir: PathBuf,
    stderr_log: PathBuf,
    exit_status: Option<ExitStatus>,
}

/// A fresh, empty folder under the system's temporary folder.
fn fresh_dir(user: &str) -> Result<PathBuf, HarnessError> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let safe: String = user
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let dir = std::env::temp_dir().join(format!(
        "rvp-interop-{safe}-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir(&dir).map_err(|source| HarnessError::Io {
        what: format!("creating {}", dir.display()),
        source,
    })?;
    Ok(dir)
}

impl PurpleClient {
    /// Starts a front end for `options.user` with a fresh libpurple configuration folder.
    /// Returns once the process runs; sign-on proceeds in the background (see
    /// [`wait_signed_on`](Self::wait_signed_on)).
    pub fn spawn(options: PurpleOptions) -> Result<PurpleClient, HarnessError> {
        let frontend = match options.frontend.clone() {
            Some(frontend) => frontend,
            None => Frontend::get()?,
        };
        let dir = fresh_dir(&options.user)?;
        let config_dir = dir.join("purple");
        std::fs::create_dir(&config_dir).map_err(|source| HarnessError::Io {
            what: format!("creating {}", config_dir.display()),
            source,
        })?;
        let stderr_log = dir.join("stderr.log");
        let stderr = File::create(&stderr_log).map_err(|source| HarnessError::Io {
            what: format!("creating {}", stderr_log.display()),
            source,
        })?;

        let mut args: Vec<OsString> = vec![
            "--user".into(),
            options.user.clone().into(),
            "--plugin-dir".into(),
            frontend.plugin_dir.clone().into(),
            "--config-dir".into(),
            config_dir.clone().into(),
            "--exit-timeout".into(),
            options.exit_timeout.as_secs().max(1).to_string().into(),
        ];
        for (key, value) in &options.account_options {
            args.push("--option".into());
            args.push(format!("{key}={value}").into());
        }
        for (path, value) in &options.prefs {
            args.push("--pref".into());
            args.push(format!("{path}={value}").into());
        }
        if let Some(state) = &options.initial_state {
            args.push("--status".into());
            args.push(state.local_name().into());
        }
        if options.no_login {
            args.push("--no-login".into());
        }
        let mut command = match options.wrapper.split_first() {
            Some((program, wrapper_args)) => {
                let mut c = Command::new(program);
                c.args(wrapper_args).arg(&frontend.binary);
                c
            }
            None => Command::new(&frontend.binary),
        };
        command
            .args(&args)
            .env_remove("RVP_PURPLE_PASSWORD")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr);
        if let Some(password) = &options.password {
            command.env("RVP_PURPLE_PASSWORD", password);
        }
        if options.debug {
            command.env("PURPLE_DEBUG", "1");
        } else {
            command.env_remove("PURPLE_DEBUG");
        }
        let mut child = command.spawn().map_err(|source| HarnessError::Io {
            what: format!("starting {}", frontend.binary.display()),
            source,
        })?;

        let stdin = child.stdin.take();
        let stdout = child.stdout.take().ok_or_else(|| HarnessError::Io {
            what: "taking the front end's stdout".into(),
            source: std::io::Error::other("no stdout pipe"),
        })?;
        let transcript = Arc::new(Mutex::new(Vec::new()));
        let (tx, events) = mpsc::channel();
        let reader_transcript = Arc::clone(&transcript);
        std::thread::Builder::new()
            .name(format!("rvp-purple {}", options.user))
            .spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    reader_transcript
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(line.clone());
                    let received = Event::parse(&line).map_err(|e| (line, e));
                    if tx.send(received).is_err() {
                        break;
                    }
                }
            })
            .map_err(|source| HarnessError::Io {
                what: "starting the reader thread".into(),
                source,
            })?;

        Ok(PurpleClient {
            user: options.user,
            child,
            stdin,
            events,
            backlog: VecDeque::new(),
            transcript,
            dir,
            stderr_log,
            exit_status: None,
        })
    }

    /// [`spawn`](Self::spawn), then [`wait_signed_on`](Self::wait_signed_on).
    pub fn sign_on(
        options: PurpleOptions,
        timeout: Duration,
    ) -> Result<PurpleClient, HarnessError> {
        let mut client = PurpleClient::spawn(options)?;
        client.wait_signed_on(timeout)?;
        Ok(client)
    }

    /// The sign-in name.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The file receiving the front end's stderr (librvp's debug log with
    /// [`PurpleOptions::debug`]).
    pub fn stderr_log(&self) -> &Path {
        &self.stderr_log
    }

    /// Every line the front end printed so far, raw.
    pub fn transcript(&self) -> Vec<String> {
        self.transcript
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn tail(&self) -> String {
        let lines = self.transcript();
        let start = lines.len().saturating_sub(ERROR_TAIL_LINES);
        let mut tail = String::new();
        for line in &lines[start..] {
            tail.push_str("    ");
            tail.push_str(line);
            tail.push('\n');
        }
        tail
    }

    /// Sends one raw command line (no line break inside; see the front end's README).
    pub fn command(&mut self, line: &str) -> Result<(), HarnessError> {
        if line.contains(['\n', '\r']) {
            return Err(HarnessError::BadCommand {
                line: line.to_owned(),
            });
        }
        let user = self.user.clone();
        let stdin = self.stdin.as_mut().ok_or_else(|| HarnessError::Io {
            what: format!("{user}: stdin already closed"),
            source: std::io::Error::from(std::io::ErrorKind::BrokenPipe),
        })?;
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|()| stdin.flush())
            .map_err(|source| HarnessError::Io {
                what: format!("{user}: sending {line:?}"),
                source,
            })
    }

    /// `login`: signs on (after [`PurpleOptions::no_login`]).
    pub fn login(&mut self) -> Result<(), HarnessError> {
        self.command("login")
    }

    /// `status <state>`: sets the account's state. `Offline` signs off (libpurple treats the
    /// offline status as disconnecting), after which the front end exits.
    pub fn set_state(&mut self, state: &PresenceState) -> Result<(), HarnessError> {
        self.command(&format!("status {}", escape(state.local_name(), true)))
    }

    /// `im <who> <text>`: sends an instant message (any text: escaped for the line).
    pub fn send_im(&mut self, who: &str, text: &str) -> Result<(), HarnessError> {
        self.command(&format!("im {} {}", escape(who, true), escape(text, false)))
    }

    /// `typing <who>`: tells `who` that we are typing.
    pub fn typing(&mut self, who: &str) -> Result<(), HarnessError> {
        self.command(&format!("typing {}", escape(who, true)))
    }

    /// `typing-stop <who>`: tells `who` that we stopped typing.
    pub fn typing_stop(&mut self, who: &str) -> Result<(), HarnessError> {
        self.command(&format!("typing-stop {}", escape(who, true)))
    }

    /// `add <who>`: adds a buddy (librvp subscribes to its presence and grants it an ACE).
    pub fn add_buddy(&mut self, who: &str) -> Result<(), HarnessError> {
        self.command(&format!("add {}", escape(who, true)))
    }

    /// `remove <who>`: removes a buddy.
    pub fn remove_buddy(&mut self, who: &str) -> Result<(), HarnessError> {
        self.command(&format!("remove {}", escape(who, true)))
    }

    /// `deny <who>`: puts `who` on the deny list; librvp writes one ACE denying `send-to`
    /// and `presence`.
    pub fn deny(&mut self, who: &str) -> Result<(), HarnessError> {
        self.command(&format!("deny {}", escape(who, true)))
    }

    /// `permit <who>`: puts `who` on the permit list; librvp writes one ACE granting
    /// `send-to` and `presence`.
    pub fn permit(&mut self, who: &str) -> Result<(), HarnessError> {
        self.command(&format!("permit {}", escape(who, true)))
    }

    /// `query <who>`: asks for a `buddy-status` line with the buddy's current state.
    pub fn query(&mut self, who: &str) -> Result<(), HarnessError> {
        self.command(&format!("query {}", escape(who, true)))
    }

    /// `logout`: signs off; the front end exits after `signed-off` (bounded by the exit
    /// timeout).
    pub fn logout(&mut self) -> Result<(), HarnessError> {
        self.command("logout")
    }

    /// `quit`: exits at once, without signing off.
    pub fn quit(&mut self) -> Result<(), HarnessError> {
        self.command("quit")
    }

    /// Waits up to `timeout` for the first event matching `pred` (looking first at events
    /// passed over by earlier calls) and removes it from the queue.
    pub fn expect<F>(&mut self, pred: F, timeout: Duration) -> Result<Event, HarnessError>
    where
        F: FnMut(&Event) -> bool,
    {
        self.expect_unless(pred, |_| false, timeout)
    }

    /// Like [`expect`](Self::expect), but fails at once with [`HarnessError::Aborted`] when
    /// an event matching `abort` arrives first.
    pub fn expect_unless<F, A>(
        &mut self,
        mut pred: F,
        mut abort: A,
        timeout: Duration,
    ) -> Result<Event, HarnessError>
    where
        F: FnMut(&Event) -> bool,
        A: FnMut(&Event) -> bool,
    {
        if let Some(i) = self.backlog.iter().position(&mut pred)
            && let Some(event) = self.backlog.remove(i)
        {
            return Ok(event);
        }
        if let Some(event) = self.backlog.iter().find(|e| abort(e)) {
            return Err(HarnessError::Aborted {
                user: self.user.clone(),
                event: event.clone(),
                tail: self.tail(),
            });
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(Ok(event)) => {
                    if pred(&event) {
                        return Ok(event);
                    }
                    let aborted = abort(&event);
                    self.backlog.push_back(event.clone());
                    if aborted {
                        return Err(HarnessError::Aborted {
                            user: self.user.clone(),
                            event,
                            tail: self.tail(),
                        });
                    }
                }
                Ok(Err((line, source))) => {
                    return Err(HarnessError::Parse {
                        user: self.user.clone(),
                        line,
                        source,
                    });
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(HarnessError::Timeout {
                        user: self.user.clone(),
                        waited: timeout,
                        tail: self.tail(),
                    });
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(HarnessError::Exited {
                        user: self.user.clone(),
                        tail: self.tail(),
                    });
                }
            }
        }
    }

    /// Waits for `signed-on`; fails early on `connection-error`, `startup-error` or `exit`.
    ///
    /// `account-status` events received before `signed-on` are dropped: while connecting,
    /// librvp reports a spurious `busy` then `online` for the account, which a later
    /// `expect` for the account's state must not mistake for the answer to a command.
    pub fn wait_signed_on(&mut self, timeout: Duration) -> Result<(), HarnessError> {
        self.expect_unless(
            |e| *e == Event::SignedOn,
            |e| {
                matches!(
                    e,
                    Event::ConnectionError { .. } | Event::StartupError { .. } | Event::Exit { .. }
                )
            },
            timeout,
        )?;
        self.backlog
            .retain(|e| !matches!(e, Event::AccountStatus { .. }));
        Ok(())
    }

    /// Events received but not yet taken by [`expect`](Self::expect), oldest first, after
    /// collecting whatever has arrived meanwhile.
    pub fn pending_events(&mut self) -> Vec<Event> {
        while let Ok(Ok(event)) = self.events.try_recv() {
            self.backlog.push_back(event);
        }
        self.backlog.iter().cloned().collect()
    }

    /// Waits up to `timeout` for the process to end and returns its exit status.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus, HarnessError> {
        if let Some(status) = self.exit_status {
            return Ok(status);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let polled = self.child.try_wait().map_err(|source| HarnessError::Io {
                what: format!("{}: waiting for the front end", self.user),
                source,
            })?;
            if let Some(status) = polled {
                self.exit_status = Some(status);
                return Ok(status);
            }
            if Instant::now() >= deadline {
                return Err(HarnessError::Timeout {
                    user: self.user.clone(),
                    waited: timeout,
                    tail: self.tail(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Signs off and waits (up to `timeout`) for the process to end: `logout`, then
    /// `signed-off` and `exit logout`. Returns the `exit` event's reason.
    pub fn logout_and_wait(&mut self, timeout: Duration) -> Result<String, HarnessError> {
        let deadline = Instant::now() + timeout;
        self.logout()?;
        let exit = self.expect(|e| matches!(e, Event::Exit { .. }), timeout)?;
        self.wait_exit(deadline.saturating_duration_since(Instant::now()))?;
        match exit {
            Event::Exit { reason } => Ok(reason),
            _ => Ok(String::new()),
        }
    }
}

impl Drop for PurpleClient {
    #[allow(clippy::print_stderr)] // where to find the logs of a failed test
    fn drop(&mut self) {
        drop(self.stdin.take());
        if self.exit_status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() || std::env::var_os("RVP_INTEROP_KEEP").is_some() {
            eprintln!(
                "rvp-interop: kept {}'s folder {} (stderr log: {})",
                self.user,
                self.dir.display(),
                self.stderr_log.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
