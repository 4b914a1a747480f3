//! The file backend's writes: one `[[users]]` entry of the server's configuration changed
//! in place (comments, order and layout of everything else kept, through `toml_edit`),
//! checked as the server will read it, then written atomically: a temporary file in the
//! same folder, with the file's permissions (and owner, where allowed), flushed to disk,
//! renamed over the file, the folder flushed.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rvp_resolve::Address;
use rvp_server::config::Config;

use toml_edit::{ArrayOfTables, DocumentMut, Item, Table, TableLike, Value, value};

use super::UserError;

/// Largest configuration file edited, in bytes.
pub(crate) const MAX_CONFIG_LEN: u64 = 16 * 1024 * 1024;

/// A change to one `[[users]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Edit {
    /// `enabled = true|false` (enabling an entry without the key leaves it without).
    Enabled(bool),
    /// `ha1 = "<32 hex>"`, and the clear-text `password` removed.
    Ha1(String),
}

/// What an edit did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Edited {
    /// `users[i]`.
    pub(crate) origin: String,
    /// The file written (the configuration path with symbolic links resolved).
    pub(crate) path: PathBuf,
    /// Whether the file changed (false: it already said so).
    pub(crate) changed: bool,
}

/// A new `[[users]]` entry (`user add`); no credentials (`passwd` sets them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NewUser {
    /// `display_name`.
    pub(crate) display_name: Option<String>,
    /// `email`.
    pub(crate) email: Option<String>,
    /// `home`.
    pub(crate) home: Option<String>,
    /// `false`: written with `enabled = false`.
    pub(crate) enabled: bool,
}

/// Applies `edit` to the `[[users]]` entry of `address` in the configuration `path`.
pub(crate) fn edit(path: &Path, address: &Address, edit: &Edit) -> Result<Edited, UserError> {
    apply(path, |text, origin| edit_text(text, address, edit, origin))
}

/// Adds a `[[users]]` entry for `address` to the configuration `path`.
pub(crate) fn add(path: &Path, address: &Address, new: &NewUser) -> Result<Edited, UserError> {
    apply(path, |text, origin| add_text(text, address, new, origin))
}

/// Removes the `[[users]]` entry of `address` from the configuration `path`.
pub(crate) fn remove(path: &Path, address: &Address) -> Result<Edited, UserError> {
    apply(path, |text, origin| remove_text(text, address, origin))
}

fn apply(
    path: &Path,
    change: impl FnOnce(&str, &str) -> Result<(String, String), UserError>,
) -> Result<Edited, UserError> {
    let real = fs::canonicalize(path).map_err(|e| io_refused("cannot open", path, &e))?;
    let old = read_bounded(&real)?;
    let (new, origin) = change(&old, &real.display().to_string())?;
    let changed = new != old;
    if changed {
        write_atomically(&real, &new, &old)?;
    }
    Ok(Edited {
        origin,
        path: real,
        changed,
    })
}

fn read_bounded(path: &Path) -> Result<String, UserError> {
    let meta = fs::metadata(path).map_err(|e| io_refused("cannot read", path, &e))?;
    if meta.len() > MAX_CONFIG_LEN {
        return Err(UserError::Invalid(format!(
            "{}: larger than {MAX_CONFIG_LEN} bytes; not a configuration file this tool edits",
            path.display()
        )));
    }
    fs::read_to_string(path).map_err(|e| io_refused("cannot read", path, &e))
}

/// The configuration text with `edit` applied to `address`'s entry, and the entry's
/// `users[i]`. The result is read back as the server reads it; an edit the server would
/// refuse is an error here, before anything is written.
pub(crate) fn edit_text(
    text: &str,
    address: &Address,
    edit: &Edit,
    origin: &str,
) -> Result<(String, String), UserError> {
    let mut doc = parse(text, origin)?;
    let no_such = || UserError::NoSuchUser {
        address: address.to_string(),
        directory: format!("the [[users]] of {origin}"),
    };
    let users = doc.get_mut("users").ok_or_else(no_such)?;
    let mut entries: Vec<&mut dyn TableLike> = match users {
        Item::ArrayOfTables(a) => a.iter_mut().map(|t| t as &mut dyn TableLike).collect(),
        Item::Value(Value::Array(a)) => a
            .iter_mut()
            .filter_map(|v| v.as_inline_table_mut())
            .map(|t| t as &mut dyn TableLike)
            .collect(),
        _ => {
            return Err(UserError::Invalid(format!(
                "{origin}: `users` is not a list of [[users]] tables"
            )));
        }
    };
    let (i, entry) = entries
        .iter_mut()
        .enumerate()
        .find(|(_, t)| {
            t.get("alias")
                .and_then(Item::as_str)
                .is_some_and(|a| a.eq_ignore_ascii_case(address.alias()))
        })
        .ok_or_else(no_such)?;
    match edit {
        Edit::Enabled(true) => {
            if entry.contains_key("enabled") {
                set(&mut **entry, "enabled", Value::from(true));
            }
        }
        Edit::Enabled(false) => set(&mut **entry, "enabled", Value::from(false)),
        Edit::Ha1(hex) => {
            entry.remove("password");
            set(&mut **entry, "ha1", Value::from(hex.as_str()));
        }
    }
    let users_i = format!("users[{i}]");
    let new = doc.to_string();
    let config = read_as_the_server(&new, origin, &users_i)?;
    let u = config
        .users
        .iter()
        .find(|u| u.alias.eq_ignore_ascii_case(address.alias()))
        .ok_or_else(no_such)?;
    let done = match edit {
        Edit::Enabled(on) => u.enabled.unwrap_or(true) == *on,
        Edit::Ha1(hex) => u.password.is_none() && u.ha1.as_deref() == Some(hex.as_str()),
    };
    if !done {
        return Err(UserError::Refused(format!(
            "{users_i}: the edit did not take (the file says something else); nothing was \
             written"
        )));
    }
    Ok((new, users_i))
}

/// `text` read as the server will read it (the configuration, then its `[[users]]` as
/// the file directory), or why not: nothing is written then.
fn read_as_the_server(text: &str, origin: &str, users_i: &str) -> Result<Config, UserError> {
    let refused = |e: &dyn std::fmt::Display| {
        UserError::Invalid(format!(
            "{users_i}: the edited configuration would not be valid, nothing was written: {e}"
        ))
    };
    let config = Config::from_toml_str(text, origin).map_err(|e| refused(&e))?;
    config.file_directory().map_err(|e| refused(&e))?;
    Ok(config)
}

fn parse(text: &str, origin: &str) -> Result<DocumentMut, UserError> {
    text.parse().map_err(|e: toml_edit::TomlError| {
        UserError::Invalid(format!("{origin}: not TOML: {}", e.message()))
    })
}

/// The configuration text with a `[[users]]` entry for `address` added at the end of the
/// list, and its `users[i]`.
pub(crate) fn add_text(
    text: &str,
    address: &Address,
    new: &NewUser,
    origin: &str,
) -> Result<(String, String), UserError> {
    let before =
        Config::from_toml_str(text, origin).map_err(|e| UserError::Invalid(e.to_string()))?;
    if let Some(i) = before
        .users
        .iter()
        .position(|u| u.alias.eq_ignore_ascii_case(address.alias()))
    {
        return Err(UserError::Invalid(format!(
            "{address} already exists (users[{i}] of {origin}); nothing was changed"
        )));
    }
    let mut doc = parse(text, origin)?;
    let mut t = Table::new();
    t.insert("alias", value(address.alias()));
    for (key, v) in [
        ("display_name", &new.display_name),
        ("email", &new.email),
        ("home", &new.home),
    ] {
        if let Some(v) = v {
            t.insert(key, value(v.as_str()));
        }
    }
    if !new.enabled {
        t.insert("enabled", value(false));
    }
    let i = match doc.get_mut("users") {
        None => {
            let mut a = ArrayOfTables::new();
            a.push(t);
            doc.insert("users", Item::ArrayOfTables(a));
            0
        }
        Some(Item::ArrayOfTables(a)) => {
            a.push(t);
            a.len() - 1
        }
        Some(Item::Value(Value::Array(a))) => {
            a.push(t.into_inline_table());
            a.len() - 1
        }
        Some(_) => {
            return Err(UserError::Invalid(format!(
                "{origin}: `users` is not a list of [[users]] tables"
            )));
        }
    };
    let users_i = format!("users[{i}]");
    let new_text = doc.to_string();
    let config = read_as_the_server(&new_text, origin, &users_i)?;
    let added = config.users.get(i).is_some_and(|u| {
        u.alias == address.alias()
            && u.display_name == new.display_name
            && u.email == new.email
            && u.home == new.home
            && u.enabled.unwrap_or(true) == new.enabled
            && u.password.is_none()
            && u.ha1.is_none()
    });
    if !added || config.users.len() != before.users.len() + 1 {
        return Err(UserError::Refused(format!(
            "{users_i}: the edit did not take; nothing was written"
        )));
    }
    Ok((new_text, users_i))
}

/// The configuration text without the `[[users]]` entry of `address` (its comments go
/// with it), and the `users[i]` it was.
pub(crate) fn remove_text(
    text: &str,
    address: &Address,
    origin: &str,
) -> Result<(String, String), UserError> {
    let before =
        Config::from_toml_str(text, origin).map_err(|e| UserError::Invalid(e.to_string()))?;
    let i = before
        .users
        .iter()
        .position(|u| u.alias.eq_ignore_ascii_case(address.alias()))
        .ok_or_else(|| UserError::NoSuchUser {
            address: address.to_string(),
            directory: format!("the [[users]] of {origin}"),
        })?;
    let mut doc = parse(text, origin)?;
    let alias_of = |t: &dyn TableLike| {
        t.get("alias")
            .and_then(Item::as_str)
            .is_some_and(|a| a.eq_ignore_ascii_case(address.alias()))
    };
    let removed = match doc.get_mut("users") {
        Some(Item::ArrayOfTables(a)) => {
            let at = a.iter().position(|t| alias_of(t));
            at.map(|at| a.remove(at)).is_some()
        }
        Some(Item::Value(Value::Array(a))) => {
            let at = a
                .iter()
                .position(|v| v.as_inline_table().is_some_and(|t| alias_of(t)));
            at.map(|at| a.remove(at)).is_some()
        }
        _ => false,
    };
    let users_i = format!("users[{i}]");
    let new_text = doc.to_string();
    let config = read_as_the_server(&new_text, origin, &users_i)?;
    if !removed
        || config.users.len() + 1 != before.users.len()
        || config
            .users
            .iter()
            .any(|u| u.alias.eq_ignore_ascii_case(address.alias()))
    {
        return Err(UserError::Refused(format!(
            "{users_i}: the edit did not take; nothing was written"
        )));
    }
    Ok((new_text, users_i))
}

/// Sets `key` to `value`, keeping the comments and spacing around an existing value.
fn set(table: &mut dyn TableLike, key: &str, mut value: Value) {
    match table.get_mut(key).and_then(Item::as_value_mut) {
        Some(old) => {
            *value.decor_mut() = old.decor().clone();
            *old = value;
        }
        None => {
            table.insert(key, Item::Value(value));
        }
    }
}

/// Replaces `path` by `text`, atomically, if it still holds `expected`.
fn write_atomically(path: &Path, text: &str, expected: &str) -> Result<(), UserError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map_or_else(|| "config".into(), |n| n.to_string_lossy().into_owned());
    let meta = fs::metadata(path).map_err(|e| io_refused("cannot read", path, &e))?;
    let tmp = dir.join(format!(".{name}.rvp-admin-{}.tmp", std::process::id()));
    let guard = RemoveOnDrop(Some(tmp.clone()));
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| io_refused("cannot create a file in", dir, &e))?;
    // The owner first (allowed for root; a no-op for the file's own owner), then the
    // permissions, so the new file is never more open than the old one.
    let _ = std::os::unix::fs::fchown(&f, Some(meta.uid()), Some(meta.gid()));
    f.set_permissions(meta.permissions())
        .map_err(|e| io_refused("cannot set the permissions of", &tmp, &e))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| io_refused("cannot write", &tmp, &e))?;
    drop(f);
    if read_bounded(path)? != expected {
        return Err(UserError::Refused(format!(
            "{} changed while it was being edited (another rvp-admin, an editor?); nothing \
             was changed: run the command again",
            path.display()
        )));
    }
    fs::rename(&tmp, path).map_err(|e| io_refused("cannot replace", path, &e))?;
    guard.disarm();
    // The rename itself on disk.
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_refused("cannot flush the folder of", path, &e))?;
    Ok(())
}

fn io_refused(what: &str, path: &Path, e: &std::io::Error) -> UserError {
    UserError::Refused(format!("{what} {}: {e}", path.display()))
}

/// Removes the temporary file unless the rename happened.
struct RemoveOnDrop(Option<PathBuf>);

impl RemoveOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_file(p);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const TEXT: &str = "# The server of im.example.org.\n\
[server]\n\
domain = \"im.example.org\"   # the IM domain\n\
\n\
# Alice runs the help desk.\n\
[[users]]\n\
alias = \"Alice\"\n\
password = \"alice-pw\"   # to be replaced\n\
\n\
[[users]]\n\
alias = \"bob\"\n\
enabled = true # bob is back\n\
";

    fn addr(alias: &str) -> Address {
        Address::new(alias, "im.example.org").unwrap()
    }

    #[test]
    fn edits_keep_everything_else() {
        let hex = "0123456789abcdef0123456789abcdef";
        let (new, origin) =
            edit_text(TEXT, &addr("alice"), &Edit::Ha1(hex.into()), "t.toml").unwrap();
        assert_eq!(origin, "users[0]");
        assert!(!new.contains("alice-pw"), "{new}");
        assert!(new.contains(&format!("ha1 = \"{hex}\"")), "{new}");
        for kept in [
            "# The server of im.example.org.\n",
            "domain = \"im.example.org\"   # the IM domain\n",
            "# Alice runs the help desk.\n[[users]]\nalias = \"Alice\"\n",
            "enabled = true # bob is back\n",
        ] {
            assert!(new.contains(kept), "{kept:?} lost:\n{new}");
        }
        let (new, origin) = edit_text(&new, &addr("BOB"), &Edit::Enabled(false), "t.toml").unwrap();
        assert_eq!(origin, "users[1]");
        assert!(new.contains("enabled = false # bob is back\n"), "{new}");
        let (new, _) = edit_text(&new, &addr("alice"), &Edit::Enabled(false), "t.toml").unwrap();
        let c = Config::from_toml_str(&new, "t").unwrap();
        assert_eq!(c.users[0].enabled, Some(false));
        assert_eq!(c.users[0].ha1.as_deref(), Some(hex));
        // Enabling an entry without the key changes nothing.
        let (same, _) = edit_text(TEXT, &addr("alice"), &Edit::Enabled(true), "t.toml").unwrap();
        assert_eq!(same, TEXT);
    }

    #[test]
    fn users_are_added_and_removed() {
        let new = NewUser {
            display_name: Some("Carol \"C\"".into()),
            email: None,
            home: Some("im1.example.org".into()),
            enabled: false,
        };
        let (text, origin) = add_text(TEXT, &addr("carol"), &new, "t").unwrap();
        assert_eq!(origin, "users[2]");
        assert!(text.starts_with(TEXT), "appended:\n{text}");
        let c = Config::from_toml_str(&text, "t").unwrap();
        assert_eq!(c.users[2].display_name.as_deref(), Some("Carol \"C\""));
        assert_eq!(c.users[2].enabled, Some(false));
        let e = add_text(&text, &addr("CAROL"), &new, "t").unwrap_err();
        assert!(e.to_string().contains("already exists (users[2]"), "{e}");
        let bad = NewUser {
            home: Some("not a host".into()),
            ..new.clone()
        };
        let e = add_text(TEXT, &addr("dave"), &bad, "t").unwrap_err();
        assert!(e.to_string().contains("would not be valid"), "{e}");
        let (first, _) = add_text("[server]\n", &addr("zoe"), &new, "t").unwrap();
        assert_eq!(Config::from_toml_str(&first, "t").unwrap().users.len(), 1);

        let (text, origin) = remove_text(&text, &addr("Alice"), "t").unwrap();
        assert_eq!(origin, "users[0]");
        assert!(
            !text.contains("Alice") && text.contains("bob is back"),
            "{text}"
        );
        assert!(text.contains("# The server of im.example.org."), "{text}");
        let e = remove_text(&text, &addr("alice"), "t").unwrap_err();
        assert!(matches!(e, UserError::NoSuchUser { .. }), "{e}");
        let inline = "users = [{ alias = \"zoe\" }, { alias = \"yan\" }]\n";
        let (text, _) = remove_text(inline, &addr("zoe"), "t").unwrap();
        let c = Config::from_toml_str(&text, "t").unwrap();
        assert_eq!(c.users.len(), 1);
        let (text, _) = add_text(&text, &addr("xi"), &new, "t").unwrap();
        assert_eq!(Config::from_toml_str(&text, "t").unwrap().users.len(), 2);
    }

    #[test]
    fn inline_user_lists_are_edited_too() {
        let text = "users = [{ alias = \"zoe\", password = \"pw\" }]\n";
        let (new, _) = edit_text(text, &addr("zoe"), &Edit::Enabled(false), "t").unwrap();
        assert_eq!(
            Config::from_toml_str(&new, "t").unwrap().users[0].enabled,
            Some(false)
        );
    }

    #[test]
    fn unknown_users_and_bad_files_are_errors() {
        let e = edit_text(TEXT, &addr("carol"), &Edit::Enabled(false), "t.toml").unwrap_err();
        assert!(matches!(e, UserError::NoSuchUser { .. }), "{e}");
        let e = edit_text("[server]\n", &addr("carol"), &Edit::Enabled(false), "t").unwrap_err();
        assert!(matches!(e, UserError::NoSuchUser { .. }), "{e}");
        let e = edit_text("users = 3\n", &addr("a"), &Edit::Enabled(false), "t").unwrap_err();
        assert!(matches!(e, UserError::Invalid(_)), "{e}");
        let e = edit_text("[[users]\n", &addr("a"), &Edit::Enabled(false), "t").unwrap_err();
        assert!(e.to_string().contains("not TOML"), "{e}");
        // An HA1 the server would refuse is never written.
        let e = edit_text(TEXT, &addr("bob"), &Edit::Ha1("xyz".into()), "t.toml").unwrap_err();
        assert!(e.to_string().contains("would not be valid"), "{e}");
    }

    proptest::proptest! {
        /// Whatever the comments and values around it, an edit changes the one key and
        /// keeps every comment; the server reads the result with the change and nothing
        /// else changed.
        #[test]
        fn edits_keep_comments_and_values(
            comment in "[ -~]{0,40}",
            name in "\\PC{0,30}",
            other in "[a-z][a-z0-9]{0,10}",
            on in proptest::prelude::any::<bool>(),
            had_key in proptest::prelude::any::<bool>(),
        ) {
            proptest::prop_assume!(other != "zed");
            let mut text = format!("#{comment}\n[[users]]\nalias = \"{other}\"\n\n# {comment}\n[[users]]\n\
                 alias = \"zed\" #{comment}\n");
            let dn = Value::from(name.as_str()).to_string();
            text.push_str(&format!("display_name = {dn}\n"));
            if had_key {
                text.push_str(&format!("enabled = {} #{comment}\n", !on));
            }
            let before = Config::from_toml_str(&text, "t").unwrap();
            let (new, origin) =
                edit_text(&text, &addr("zed"), &Edit::Enabled(on), "t").unwrap();
            proptest::prop_assert_eq!(origin, "users[1]");
            let after = Config::from_toml_str(&new, "t").unwrap();
            let mut expected = before.clone();
            if had_key || !on {
                expected.users[1].enabled = Some(on);
            }
            proptest::prop_assert_eq!(&after.users, &expected.users);
            proptest::prop_assert_eq!(new.matches(&format!("#{comment}")).count(),
                text.matches(&format!("#{comment}")).count());
        }
    }

    #[test]
    fn files_are_replaced_with_their_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("rvp-admin-file-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("server.toml");
        fs::write(&path, TEXT).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.join("link.toml");
        let _ = fs::remove_file(&link);
        std::os::unix::fs::symlink(&path, &link).unwrap();
        let done = edit(&link, &addr("bob"), &Edit::Enabled(false)).unwrap();
        assert!(done.changed);
        assert_eq!(done.path, fs::canonicalize(&path).unwrap());
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o640
        );
        assert!(
            fs::read_to_string(&path)
                .unwrap()
                .contains("enabled = false # bob is back")
        );
        let again = edit(&path, &addr("bob"), &Edit::Enabled(false)).unwrap();
        assert!(!again.changed);
        // Nothing else was left in the folder.
        let mut names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["link.toml", "server.toml"]);
        fs::remove_dir_all(&dir).unwrap();
    }
}
