//! `rvp-admin user ...`: the users of the server's directory, as Exchange's Task Wizard
//! managed them: list, show, enable, disable, set the password; add and remove (the
//! `[[users]]` file only: LDAP entries are made with the directory's own tools).
//!
//! ```text
//!   --config server.toml ─► [directory] backend
//!        "file" ─► the [[users]] of that file: read with rvp-server's FileDirectory,
//!                  written in place (file.rs: toml_edit, atomic replace)
//!        "ldap" ─► rvp-server's LdapDirectory (uncached): lookups and listing as the
//!                  server does them, writes with one LDAP modify of the mapped attribute
//! ```
//!
//! `passwd` stores Digest HA1s = MD5(`username:realm:password`) in the server's realm,
//! never the password: over the alias as the directory writes it, over every other
//! username form the entry already has an HA1 for, and over the `--username` forms. The
//! HA1 librvp (Pidgin) would use is checked first: librvp cuts its hex HA1 at the first
//! zero byte, so some passwords can never sign it on; such a password is refused unless
//! `--force`.
//!
//! Exit status: 0 done, 1 the directory refused or the file could not be written,
//! 2 invalid input (usage, user name, password, configuration), 3 no such user,
//! 4 the directory cannot be reached.

mod file;
mod password;

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use rvp_resolve::Address;
use rvp_server::auth::{Ha1, LibrvpCompat};
use rvp_server::config::Config;
use rvp_server::directory::ldap::{
    MAX_DISPLAY_NAME_LEN, MAX_EMAIL_LEN, MAX_HA1_VALUES, UserChange,
};
use rvp_server::directory::{
    Backend, Credentials, DigestHa1, Directory, DirectoryEntry, DirectoryError, FileDirectory,
    LdapDirectory,
};

use crate::json;

/// Exit status: the directory refused the change, or the file could not be written.
pub(crate) const EXIT_REFUSED: u8 = 1;
/// Exit status: invalid input (usage, user name, password, configuration).
pub(crate) const EXIT_INVALID: u8 = 2;
/// Exit status: no such user.
pub(crate) const EXIT_NO_SUCH_USER: u8 = 3;
/// Exit status: the directory cannot be reached.
pub(crate) const EXIT_UNREACHABLE: u8 = 4;

/// Where the users are: the server's configuration, and who writes to LDAP.
#[derive(Debug, Args)]
pub(crate) struct Target {
    /// The server's configuration file: its `[directory]` says where the users are (its
    /// `[[users]]`, or an LDAP server).
    #[arg(long)]
    config: PathBuf,
    /// LDAP: bind as this DN instead of `[directory.ldap] bind_dn` (the server's account
    /// may only read; changes need an account allowed to write).
    #[arg(long, value_name = "DN", requires = "bind_password_file")]
    bind_dn: Option<String>,
    /// LDAP: the password of --bind-dn, the first line of this file.
    #[arg(long, value_name = "FILE", requires = "bind_dn")]
    bind_password_file: Option<PathBuf>,
}

/// `rvp-admin user ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum UserCommand {
    /// List the users: address, enabled, home server, credentials, display name, e-mail.
    List {
        #[command(flatten)]
        target: Target,
        /// One JSON object per user, in an array.
        #[arg(long)]
        json: bool,
    },
    /// Show one user: every field of its entry (never its password or HA1), and whether
    /// librvp can sign in with its credentials.
    Show {
        /// `alias` or `alias@domain`.
        user: String,
        #[command(flatten)]
        target: Target,
        /// As a JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Let the user sign in again.
    Enable {
        /// `alias` or `alias@domain`.
        user: String,
        #[command(flatten)]
        target: Target,
    },
    /// Keep the user from signing in (the entry stays; the server answers as for a user
    /// it does not have).
    Disable {
        /// `alias` or `alias@domain`.
        user: String,
        #[command(flatten)]
        target: Target,
    },
    /// Add a user to the [[users]] file, without credentials (`passwd` sets them). An
    /// LDAP directory's entries are created with its own tools.
    Add {
        /// `alias` or `alias@domain`.
        user: String,
        #[command(flatten)]
        target: Target,
        /// `d:displayname`, what watchers see.
        #[arg(long, value_name = "NAME")]
        display_name: Option<String>,
        /// `r:email`.
        #[arg(long, value_name = "ADDRESS")]
        email: Option<String>,
        /// The home server (`host` or `host:port`) when it is another server of the domain.
        #[arg(long, value_name = "HOST")]
        home: Option<String>,
        /// Add it disabled (`enabled = false`).
        #[arg(long)]
        disabled: bool,
    },
    /// Remove a user from the [[users]] file (its entry and the comments above it). An
    /// LDAP directory's entries are removed with its own tools.
    Remove {
        /// `alias` or `alias@domain`.
        user: String,
        #[command(flatten)]
        target: Target,
    },
    /// Set the password: stores its Digest HA1s (never the password itself).
    Passwd {
        /// `alias` or `alias@domain`.
        user: String,
        #[command(flatten)]
        target: Target,
        /// Read the password from the first line of standard input instead of asking on
        /// the terminal.
        #[arg(long)]
        password_stdin: bool,
        /// Also store an HA1 for this Digest username form (`CORP\alias`); repeatable.
        /// LDAP only: the [[users]] file holds one HA1, over the alias.
        #[arg(long = "username", value_name = "FORM")]
        usernames: Vec<String>,
        /// Store a password librvp (Pidgin) cannot sign in with.
        #[arg(long)]
        force: bool,
    },
}

/// Why a `user` command failed; [`UserError::exit_code`] is its exit status.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UserError {
    /// Usage, a user name, a password or the configuration.
    #[error("{0}")]
    Invalid(String),
    /// The directory holds no such user.
    #[error("no such user: {address} is not in {directory}")]
    NoSuchUser {
        /// The address asked for.
        address: String,
        /// The directory asked.
        directory: String,
    },
    /// The directory cannot be reached.
    #[error("{0}; nothing was changed")]
    Unreachable(String),
    /// The directory refused, or the file could not be written.
    #[error("{0}")]
    Refused(String),
}

impl UserError {
    /// The exit status.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            UserError::Refused(_) => EXIT_REFUSED,
            UserError::Invalid(_) => EXIT_INVALID,
            UserError::NoSuchUser { .. } => EXIT_NO_SUCH_USER,
            UserError::Unreachable(_) => EXIT_UNREACHABLE,
        }
    }
}

impl From<DirectoryError> for UserError {
    fn from(e: DirectoryError) -> Self {
        match e {
            DirectoryError::Unavailable { .. } => UserError::Unreachable(e.to_string()),
            DirectoryError::Config(_) => UserError::Invalid(e.to_string()),
            _ => UserError::Refused(e.to_string()),
        }
    }
}

/// The directory of a configuration.
enum Store {
    /// `[[users]]`: the file, and the directory read from it.
    File(PathBuf, FileDirectory),
    /// An LDAP server.
    Ldap(Box<LdapDirectory>),
}

impl Store {
    fn open(target: &Target, config: &Config) -> Result<Store, UserError> {
        match config.directory.backend {
            Backend::Ldap => {
                let mut ldap = config.directory.ldap.clone().ok_or_else(|| {
                    UserError::Invalid("backend \"ldap\" without [directory.ldap]".into())
                })?;
                if let (Some(dn), Some(file)) = (&target.bind_dn, &target.bind_password_file) {
                    ldap.bind_dn.clone_from(dn);
                    ldap.bind_password = None;
                    ldap.bind_password_file = Some(file.clone());
                }
                Ok(Store::Ldap(Box::new(LdapDirectory::new(&ldap)?)))
            }
            _ => {
                if target.bind_dn.is_some() {
                    return Err(UserError::Invalid(format!(
                        "--bind-dn is for an LDAP directory; the users of {} are its [[users]]",
                        target.config.display()
                    )));
                }
                Ok(Store::File(target.config.clone(), config.file_directory()?))
            }
        }
    }

    fn directory(&self) -> &dyn Directory {
        match self {
            Store::File(_, d) => d,
            Store::Ldap(d) => &**d,
        }
    }

    fn describe(&self) -> String {
        match self {
            Store::File(path, _) => format!("the [[users]] of {}", path.display()),
            Store::Ldap(d) => format!("the LDAP directory {}", d.describe()),
        }
    }

    async fn get(&self, address: &Address) -> Result<DirectoryEntry, UserError> {
        self.directory()
            .lookup(address)
            .await?
            .ok_or_else(|| UserError::NoSuchUser {
                address: address.to_string(),
                directory: self.describe(),
            })
    }
}

impl Store {
    /// The entry `passwd` replaces the HA1s of. An LDAP entry whose stored HA1s cannot be
    /// read (a malformed value) is taken as the address alone, with a warning, so that
    /// `passwd` can repair it.
    async fn get_for_passwd(
        &self,
        address: &Address,
        err: &mut dyn Write,
    ) -> Result<DirectoryEntry, UserError> {
        let Store::Ldap(d) = self else {
            return self.get(address).await;
        };
        match d.lookup(address).await {
            Err(DirectoryError::InvalidEntry {
                entry,
                attribute,
                reason,
            }) if !attribute.is_empty()
                && attribute.eq_ignore_ascii_case(&d.config().attributes.ha1) =>
            {
                writeln!(
                    err,
                    "warning: {}: the stored HA1s cannot be read ({}: {}); they are replaced",
                    printable(&entry),
                    printable(&attribute),
                    printable(&reason)
                )
                .map_err(output)?;
                DirectoryEntry::new(address.clone(), entry).map_err(UserError::from)
            }
            Err(e) => Err(e.into()),
            Ok(None) => Err(UserError::NoSuchUser {
                address: address.to_string(),
                directory: self.describe(),
            }),
            Ok(Some(e)) => Ok(e),
        }
    }
}

/// Runs a `user` command; what it did goes to `out`, warnings to `err`.
pub(crate) fn run(
    command: UserCommand,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), UserError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| UserError::Refused(format!("cannot start: {e}")))?;
    runtime.block_on(run_async(command, out, err))
}

fn load(target: &Target) -> Result<(Config, Store), UserError> {
    let config =
        Config::from_file(&target.config).map_err(|e| UserError::Invalid(e.to_string()))?;
    let store = Store::open(target, &config)?;
    Ok((config, store))
}

fn output(e: std::io::Error) -> UserError {
    UserError::Refused(format!("cannot write the output: {e}"))
}

async fn run_async(
    command: UserCommand,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), UserError> {
    match command {
        UserCommand::List { target, json } => {
            let (config, store) = load(&target)?;
            let mut entries = store.directory().all().await?;
            if matches!(store, Store::Ldap(_)) {
                entries.sort_by_key(|e| e.address.to_string().to_ascii_lowercase());
            }
            if json {
                let items: Vec<String> = entries.iter().map(|e| entry_json(e, &config)).collect();
                writeln!(out, "[{}]", items.join(",")).map_err(output)
            } else {
                write_table(&entries, &config, out).map_err(output)
            }
        }
        UserCommand::Show { user, target, json } => {
            let (config, store) = load(&target)?;
            let address = user_address(&user, &config)?;
            let entry = store.get(&address).await?;
            if json {
                writeln!(out, "{}", entry_json(&entry, &config)).map_err(output)
            } else {
                write_entry(&entry, &config, out).map_err(output)
            }
        }
        UserCommand::Add {
            user,
            target,
            display_name,
            email,
            home,
            disabled,
        } => {
            let (config, store) = load(&target)?;
            let address = user_address(&user, &config)?;
            let Store::File(path, _) = &store else {
                return Err(not_for_ldap("add"));
            };
            for (what, v, limit) in [
                ("display name", &display_name, MAX_DISPLAY_NAME_LEN),
                ("e-mail", &email, MAX_EMAIL_LEN),
                ("home", &home, MAX_EMAIL_LEN),
            ] {
                if let Some(v) = v
                    && (v.is_empty() || v.len() > limit || v.chars().any(char::is_control))
                {
                    return Err(UserError::Invalid(format!(
                        "the {what} must be 1 to {limit} bytes without control characters"
                    )));
                }
            }
            let new = file::NewUser {
                display_name,
                email,
                home,
                enabled: !disabled,
            };
            let e = file::add(path, &address, &new)?;
            writeln!(
                out,
                "{address} added ({} of {}), without credentials: set its password with \
                 `rvp-admin user passwd {}`; a running server applies it when it reloads \
                 (SIGHUP)",
                e.origin,
                e.path.display(),
                address.alias()
            )
            .map_err(output)
        }
        UserCommand::Remove { user, target } => {
            let (config, store) = load(&target)?;
            let address = user_address(&user, &config)?;
            let Store::File(path, _) = &store else {
                return Err(not_for_ldap("remove"));
            };
            let e = file::remove(path, &address)?;
            writeln!(
                out,
                "{address} removed ({} of {}); a running server refuses its sign-ins from \
                 its next reload (SIGHUP) and leaves it out of its presence directory from its \
                 next start",
                e.origin,
                e.path.display()
            )
            .map_err(output)
        }
        UserCommand::Enable { user, target } => set_enabled(&user, &target, true, out).await,
        UserCommand::Disable { user, target } => set_enabled(&user, &target, false, out).await,
        UserCommand::Passwd {
            user,
            target,
            password_stdin,
            usernames,
            force,
        } => {
            let (config, store) = load(&target)?;
            let address = user_address(&user, &config)?;
            if usernames.len() >= MAX_HA1_VALUES {
                return Err(UserError::Invalid(format!(
                    "{} --username forms: an entry holds at most {MAX_HA1_VALUES} HA1s, one \
                     of them over the alias",
                    usernames.len()
                )));
            }
            for form in &usernames {
                password::check_username(form, &address).map_err(UserError::Invalid)?;
            }
            if matches!(store, Store::File(..)) && !usernames.is_empty() {
                return Err(UserError::Invalid(
                    "the [[users]] file holds one HA1, over the alias: --username needs an \
                     LDAP directory"
                        .into(),
                ));
            }
            let entry = store.get_for_passwd(&address, err).await?;
            let password = if password_stdin {
                password::read_line(std::io::stdin().lock())?
            } else {
                password::prompt(&entry.address)?
            };
            passwd(
                &store, &config, &entry, &password, &usernames, force, out, err,
            )
            .await
        }
    }
}

/// When running servers see an LDAP change: they look users up per request, through
/// their cache.
fn ldap_delay(config: &Config) -> String {
    format!(
        "running servers see it at the first request naming the user once their cached \
         entry is older than [directory] cache_ttl ({}s)",
        config.directory.cache_ttl.as_secs()
    )
}

fn not_for_ldap(what: &str) -> UserError {
    UserError::Invalid(format!(
        "`user {what}` changes the [[users]] file; an LDAP directory's entries are created \
         and removed with its own tools (the rvpUser class of contrib/ldap), and rvp-admin \
         changes them afterwards"
    ))
}

fn user_address(user: &str, config: &Config) -> Result<Address, UserError> {
    password::parse_user(user, &config.server.domain).map_err(UserError::Invalid)
}

async fn set_enabled(
    user: &str,
    target: &Target,
    on: bool,
    out: &mut dyn Write,
) -> Result<(), UserError> {
    let (config, store) = load(target)?;
    let address = user_address(user, &config)?;
    let entry = store.get(&address).await?;
    let word = if on { "enabled" } else { "disabled" };
    let done = match &store {
        Store::File(path, _) => {
            let e = file::edit(path, &entry.address, &file::Edit::Enabled(on))?;
            if e.changed {
                format!(
                    "{} {word} ({} of {}); {}",
                    entry.address,
                    e.origin,
                    e.path.display(),
                    if on {
                        "a running server accepts its sign-ins from its next reload (SIGHUP)"
                    } else {
                        "a running server refuses its sign-ins from its next reload (SIGHUP) \
                         and leaves it out of its presence directory from its next start"
                    }
                )
            } else {
                format!("{} was already {word}; nothing changed", entry.address)
            }
        }
        Store::Ldap(d) => {
            if entry.enabled == on {
                format!("{} was already {word}; nothing changed", entry.address)
            } else {
                let dn = d
                    .change_user(&entry.address, &UserChange::Enabled(on))
                    .await?
                    .ok_or_else(|| UserError::NoSuchUser {
                        address: address.to_string(),
                        directory: store.describe(),
                    })?;
                format!(
                    "{} {word} ({} = {} on {dn}); {}",
                    entry.address,
                    d.config().attributes.enabled,
                    if on { "TRUE" } else { "FALSE" },
                    ldap_delay(&config)
                )
            }
        }
    };
    writeln!(out, "{}", printable(&done)).map_err(output)
}

/// The HA1s `passwd` stores for `entry`: over the alias as written, every username form
/// the entry already has one for (in its realm), and `extra` (in the server's).
fn ha1s(
    entry: &DirectoryEntry,
    realm: &str,
    password: &str,
    extra: &[String],
) -> Result<Vec<(String, String, DigestHa1)>, UserError> {
    let alias = entry.address.alias();
    let mut forms: Vec<(String, String)> = vec![(alias.to_owned(), realm.to_owned())];
    if let Credentials::Ha1(list) = &entry.credentials {
        for d in list {
            if let (Some(u), Some(r)) = (&d.username, &d.realm) {
                forms.push((u.to_string(), r.to_string()));
            }
        }
    }
    forms.extend(extra.iter().map(|u| (u.clone(), realm.to_owned())));
    let mut seen = std::collections::HashSet::new();
    forms.retain(|f| seen.insert(f.clone()));
    forms
        .into_iter()
        .map(|(username, r)| {
            let ha1 = Ha1::from_password(&username, &r, password);
            let stored = if username == alias && r == realm {
                DigestHa1::new(ha1)
            } else {
                DigestHa1::parse(&format!("{username}:{r}:{}", ha1.to_hex())).map_err(|why| {
                    UserError::Invalid(format!("username form {username:?}: {why}"))
                })?
            };
            Ok((username, r, stored))
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
async fn passwd(
    store: &Store,
    config: &Config,
    entry: &DirectoryEntry,
    password: &str,
    usernames: &[String],
    force: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), UserError> {
    let realm = config.realm();
    let list = ha1s(entry, realm, password, usernames)?;
    // librvp signs on with the alias (or DOMAIN\alias with an Auth Domain): every form.
    let mut problems = Vec::new();
    for (username, r, d) in &list {
        if let c @ LibrvpCompat::Incompatible { .. } = d.ha1.librvp_compatible() {
            problems.push(format!("username {username:?} in realm {r:?}: {c}"));
        }
    }
    for p in &problems {
        writeln!(err, "warning: {}", printable(p)).map_err(output)?;
    }
    if !problems.is_empty() && !force {
        return Err(UserError::Invalid(format!(
            "password not set: librvp (Pidgin) could not sign {} in with it (its Digest \
             HA1 starts with a zero byte too early). Choose another password, or give \
             --force to store it anyway",
            entry.address
        )));
    }
    let forms: Vec<String> = list.iter().map(|(u, _, _)| u.clone()).collect();
    let done = match store {
        Store::File(path, _) => {
            let hex = list
                .first()
                .map(|(_, _, d)| d.ha1.to_hex())
                .ok_or_else(|| UserError::Invalid("no username form".into()))?;
            let e = file::edit(path, &entry.address, &file::Edit::Ha1(hex))?;
            format!(
                "password of {} set: Digest HA1 over {:?} in realm {realm:?} stored as `ha1` \
                 ({} of {}; any `password` removed); a running server applies it when it \
                 reloads (SIGHUP)",
                entry.address,
                entry.address.alias(),
                e.origin,
                e.path.display()
            )
        }
        Store::Ldap(d) => {
            let values = list.into_iter().map(|(_, _, h)| h).collect();
            let dn = d
                .change_user(&entry.address, &UserChange::Ha1(values))
                .await?
                .ok_or_else(|| UserError::NoSuchUser {
                    address: entry.address.to_string(),
                    directory: store.describe(),
                })?;
            format!(
                "password of {} set: Digest HA1s for {} in realm {realm:?} stored in {} of \
                 {dn}; {}",
                entry.address,
                forms.join(", "),
                d.config().attributes.ha1,
                ldap_delay(config)
            )
        }
    };
    writeln!(out, "{}", printable(&done)).map_err(output)?;
    writeln!(
        out,
        "note: an HA1 holds the realm ([auth] realm, else [server] domain): changing the \
         realm makes it useless"
    )
    .map_err(output)
}

/// What the entry's credentials are, in words (never the secret).
fn credentials_words(entry: &DirectoryEntry) -> String {
    match &entry.credentials {
        Credentials::None => "none".into(),
        Credentials::Password(_) => "clear-text password".into(),
        Credentials::Ha1(list) => {
            let forms: Vec<String> = list
                .iter()
                .map(|d| {
                    let u = d.username.as_deref().unwrap_or(entry.address.alias());
                    match &d.realm {
                        Some(r) => format!("{u} (realm {r})"),
                        None => u.to_owned(),
                    }
                })
                .collect();
            format!("Digest HA1 for {}", forms.join(", "))
        }
        _ => "unknown".into(),
    }
}

fn credentials_kind(entry: &DirectoryEntry) -> &'static str {
    match &entry.credentials {
        Credentials::None => "none",
        Credentials::Password(_) => "password",
        Credentials::Ha1(_) => "ha1",
        _ => "unknown",
    }
}

/// Whether librvp can sign the user in, in words; `None` without credentials.
fn librvp_words(entry: &DirectoryEntry, realm: &str) -> Option<String> {
    let ha1 = entry.ha1_for(entry.address.alias(), realm)?;
    Some(match ha1.librvp_compatible() {
        LibrvpCompat::Incompatible { .. } => ha1.librvp_compatible().to_string(),
        _ => "can sign in".into(),
    })
}

fn home_words(entry: &DirectoryEntry, config: &Config) -> String {
    match &entry.home {
        Some(h) => h.clone(),
        None => format!("{} (this server)", config.server.host_name),
    }
}

/// `s` with control characters escaped: what a directory holds never drives the terminal.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn write_table(
    entries: &[DirectoryEntry],
    config: &Config,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let header = [
        "ADDRESS",
        "ENABLED",
        "HOME",
        "CREDENTIALS",
        "DISPLAY NAME",
        "EMAIL",
    ];
    let rows: Vec<[String; 6]> = entries
        .iter()
        .map(|e| {
            [
                e.address.to_string(),
                if e.enabled { "yes" } else { "no" }.into(),
                e.home
                    .clone()
                    .unwrap_or_else(|| config.server.host_name.clone()),
                credentials_kind(e).into(),
                e.display_name.clone().unwrap_or_else(|| "-".into()),
                e.email.clone().unwrap_or_else(|| "-".into()),
            ]
            .map(|c| printable(&c))
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| -> String {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(c);
                s.extend(std::iter::repeat_n(' ', w - c.chars().count() + 2));
            }
        }
        s
    };
    writeln!(out, "{}", line(&header.map(String::from)))?;
    for r in &rows {
        writeln!(out, "{}", line(r))?;
    }
    writeln!(out, "({} users)", rows.len())
}

fn write_entry(
    entry: &DirectoryEntry,
    config: &Config,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let host = &config.server.host_name;
    let fields: Vec<(&str, String)> = vec![
        ("address", entry.address.to_string()),
        ("enabled", if entry.enabled { "yes" } else { "no" }.into()),
        ("home", home_words(entry, config)),
        ("logical URL", entry.logical_url.to_string()),
        ("physical URL", entry.physical_url_on(host).to_string()),
        (
            "display name",
            entry.display_name.clone().unwrap_or_else(|| "-".into()),
        ),
        ("e-mail", entry.email.clone().unwrap_or_else(|| "-".into())),
        ("credentials", credentials_words(entry)),
        (
            "librvp",
            librvp_words(entry, config.realm()).unwrap_or_else(|| "no credentials".into()),
        ),
        ("entry", entry.origin.clone()),
    ];
    let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    for (k, v) in fields {
        writeln!(out, "{:width$} {}", format!("{k}:"), printable(&v))?;
    }
    Ok(())
}

fn entry_json(entry: &DirectoryEntry, config: &Config) -> String {
    let mut s = String::from("{");
    let mut field = |name: &str, value: Option<&str>| {
        if s.len() > 1 {
            s.push(',');
        }
        json::push_str(&mut s, name);
        s.push(':');
        match value {
            Some(v) => json::push_str(&mut s, v),
            None => s.push_str("null"),
        }
    };
    field("address", Some(&entry.address.to_string()));
    field("home", entry.home.as_deref());
    field("logical_url", Some(&entry.logical_url.to_string()));
    field(
        "physical_url",
        Some(&entry.physical_url_on(&config.server.host_name).to_string()),
    );
    field("display_name", entry.display_name.as_deref());
    field("email", entry.email.as_deref());
    field("credentials", Some(credentials_kind(entry)));
    field("entry", Some(&entry.origin));
    s.push_str(",\"enabled\":");
    s.push_str(if entry.enabled { "true" } else { "false" });
    s.push_str(",\"librvp_can_sign_in\":");
    s.push_str(
        match entry
            .ha1_for(entry.address.alias(), config.realm())
            .map(|h| h.librvp_compatible().can_sign_on())
        {
            Some(true) => "true",
            Some(false) => "false",
            None => "null",
        },
    );
    s.push('}');
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn entry(alias: &str) -> DirectoryEntry {
        DirectoryEntry::new(Address::new(alias, "im.example.org").unwrap(), "users[0]").unwrap()
    }

    #[test]
    fn passwd_covers_every_username_form() {
        let mut e = entry("Alice");
        let old = Ha1::from_password("CORP\\Alice", "other", "old").to_hex();
        e.credentials = Credentials::Ha1(vec![
            DigestHa1::new(Ha1::from_password("Alice", "r", "old")),
            DigestHa1::parse(&format!("CORP\\Alice:other:{old}")).unwrap(),
        ]);
        let list = ha1s(&e, "r", "new-pw", &["CORP/alice".into(), "Alice".into()]).unwrap();
        let forms: Vec<_> = list
            .iter()
            .map(|(u, r, _)| (u.as_str(), r.as_str()))
            .collect();
        assert_eq!(
            forms,
            [
                ("Alice", "r"),
                ("CORP\\Alice", "other"),
                ("CORP/alice", "r")
            ]
        );
        assert_eq!(
            list[0].2,
            DigestHa1::new(Ha1::from_password("Alice", "r", "new-pw"))
        );
        assert_eq!(
            list[1].2.ha1,
            Ha1::from_password("CORP\\Alice", "other", "new-pw")
        );
        assert_eq!(list[2].2.username.as_deref(), Some("CORP/alice"));
    }

    #[test]
    fn nothing_secret_is_shown() {
        let mut e = entry("alice");
        e.credentials = Credentials::Password(rvp_server::directory::Secret::new("s3cret"));
        let config = Config::from_toml_str("[server]\ndomain = \"im.example.org\"\n", "t").unwrap();
        let mut shown = Vec::new();
        write_entry(&e, &config, &mut shown).unwrap();
        write_table(std::slice::from_ref(&e), &config, &mut shown).unwrap();
        let shown = String::from_utf8(shown).unwrap() + &entry_json(&e, &config);
        assert!(!shown.contains("s3cret"), "{shown}");
        let hex = Ha1::from_password("alice", "im.example.org", "s3cret").to_hex();
        assert!(!shown.contains(&hex), "{shown}");
        assert!(shown.contains("clear-text password"), "{shown}");
        e.display_name = Some("evil\u{1b}[2J".into());
        let mut shown = Vec::new();
        write_entry(&e, &config, &mut shown).unwrap();
        assert!(!shown.contains(&0x1b), "control characters are escaped");
    }

    #[test]
    fn errors_have_distinct_exit_codes() {
        let codes = [
            UserError::Invalid(String::new()).exit_code(),
            UserError::NoSuchUser {
                address: String::new(),
                directory: String::new(),
            }
            .exit_code(),
            UserError::Unreachable(String::new()).exit_code(),
            UserError::Refused(String::new()).exit_code(),
        ];
        let mut sorted = codes.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 4);
        assert!(!codes.contains(&0));
        let e: UserError = DirectoryError::Unavailable {
            directory: "d".into(),
            reason: "refused".into(),
        }
        .into();
        assert_eq!(e.exit_code(), EXIT_UNREACHABLE);
    }
}
