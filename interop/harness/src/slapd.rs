//! A real OpenLDAP `slapd` for tests, on a free 127.0.0.1 port, in a temporary folder,
//! killed on drop (shared by rvp-server's directory tests and rvp-admin's `user` tests).
//!
//! Two configuration styles ([`Style`]): a slapd.conf — Debian's modules from
//! `/usr/lib/ldap` (`moduleload back_mdb`), the core, cosine and inetorgperson schemas of
//! `/etc/ldap/schema`, this repository's `contrib/ldap/rvp.schema` and
//! `contrib/ldap/msexchim-standin.schema` by `include` — or the same as a cn=config folder
//! made with `slapadd -n0`, with `contrib/ldap/rvp.ldif`. The data is loaded with
//! `slapadd` before the server starts; changes while it runs go through
//! `ldapmodify`/`ldapadd`. Access rules: the HA1s (and passwords) are readable by
//! [`SERVICE_DN`] only.
//!
//! Under `CI=true` a missing slapd (or ldap-utils) is a failure; otherwise the caller skips
//! with a loud message. Every wait is bounded.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The suffix of the test directory.
pub const SUFFIX: &str = "dc=example,dc=org";
/// The root DN (full rights; for changing data while the server runs).
pub const ROOT_DN: &str = "cn=admin,dc=example,dc=org";
/// Its password.
pub const ROOT_PW: &str = "admin-secret";
/// The service account rvp-server binds as; only it may read `rvpDigestHA1`.
pub const SERVICE_DN: &str = "cn=rvp-server,dc=example,dc=org";
/// Its password.
pub const SERVICE_PW: &str = "service-secret";
/// How long the server may take to answer after it was started.
pub const START_WAIT: Duration = Duration::from_secs(10);

/// Whether the environment says we run in CI (then missing tools are failures).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Where a system program lives: `PATH`, then the sbin folders (often outside a non-root
/// `PATH`). `RVP_SLAPD=/path/to/slapd` overrides the search for slapd (and, pointed at a
/// missing file, simulates a machine without it).
fn find(program: &str) -> Option<PathBuf> {
    if program == "slapd"
        && let Some(p) = std::env::var_os("RVP_SLAPD")
    {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/local/bin"].map(PathBuf::from));
    dirs.into_iter()
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// This repository's LDAP schemas (`contrib/ldap`).
pub fn contrib_ldap() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("..")
        .join("contrib")
        .join("ldap")
}

/// How the server is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// A slapd.conf file: schemas by `include` of the `.schema` files.
    SlapdConf,
    /// A cn=config folder (slapd.d) made with `slapadd -n0`: schemas as LDIF, ours from
    /// `contrib/ldap/rvp.ldif` (the form a Debian slapd takes them in).
    CnConfig,
}

/// Why the server could not be started.
#[derive(Debug)]
#[non_exhaustive]
pub enum StartError {
    /// slapd, slapadd or an ldap-utils program is not installed.
    Missing(String),
    /// It is installed but did not come up.
    Failed(String),
}

/// A running slapd holding the suffix [`SUFFIX`].
#[derive(Debug)]
pub struct Slapd {
    child: Option<Child>,
    dir: PathBuf,
    /// `-f <slapd.conf>` or `-F <slapd.d>`.
    config_args: Vec<std::ffi::OsString>,
    slapd: PathBuf,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
}

impl Slapd {
    /// Writes a slapd.conf configuration, loads `ldif` with slapadd and starts the server
    /// on a free port (retried on a new port a few times if the chosen one was taken
    /// meanwhile).
    pub fn start(ldif: &str) -> Result<Slapd, StartError> {
        Slapd::start_with(Style::SlapdConf, ldif)
    }

    /// [`Slapd::start`] with the configuration in `style`.
    pub fn start_with(style: Style, ldif: &str) -> Result<Slapd, StartError> {
        let slapd = find("slapd").ok_or_else(|| StartError::Missing("slapd".into()))?;
        let slapadd = find("slapadd").ok_or_else(|| StartError::Missing("slapadd".into()))?;
        for tool in ["ldapmodify", "ldapadd", "ldapsearch"] {
            find(tool).ok_or_else(|| StartError::Missing(tool.into()))?;
        }
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rvp-slapd-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let failed = |e: std::io::Error| StartError::Failed(e.to_string());
        std::fs::create_dir_all(dir.join("db")).map_err(failed)?;
        let config_args: Vec<std::ffi::OsString> = match style {
            Style::SlapdConf => {
                let conf = dir.join("slapd.conf");
                std::fs::write(&conf, slapd_conf(&dir)).map_err(failed)?;
                vec!["-f".into(), conf.into()]
            }
            Style::CnConfig => {
                let d = dir.join("slapd.d");
                std::fs::create_dir_all(&d).map_err(failed)?;
                let bootstrap = dir.join("config.ldif");
                std::fs::write(&bootstrap, cn_config(&dir)).map_err(failed)?;
                run_tool(
                    Command::new(&slapadd)
                        .args(["-n0", "-F"])
                        .arg(&d)
                        .arg("-l")
                        .arg(&bootstrap),
                    "slapadd -n0",
                )?;
                vec!["-F".into(), d.into()]
            }
        };
        let data = dir.join("data.ldif");
        std::fs::write(&data, ldif).map_err(failed)?;
        run_tool(
            Command::new(&slapadd)
                .args(&config_args)
                .args(["-b", SUFFIX, "-l"])
                .arg(&data),
            "slapadd",
        )?;
        let mut server = Slapd {
            child: None,
            dir,
            config_args,
            slapd,
            port: 0,
        };
        let mut last = String::new();
        for _ in 0..5 {
            server.port = free_port().map_err(|e| StartError::Failed(e.to_string()))?;
            match server.run() {
                Ok(()) => return Ok(server),
                Err(e) => last = e,
            }
        }
        Err(StartError::Failed(last))
    }

    /// Starts slapd, or: panics under `CI=true` if it cannot; returns `None` (after a loud
    /// message on stderr) outside CI when it is not installed.
    pub fn start_or_skip(test: &str, ldif: &str) -> Option<Slapd> {
        Slapd::start_or_skip_with(test, Style::SlapdConf, ldif)
    }

    /// [`Slapd::start_or_skip`] with the configuration in `style`.
    pub fn start_or_skip_with(test: &str, style: Style, ldif: &str) -> Option<Slapd> {
        match Slapd::start_with(style, ldif) {
            Ok(s) => Some(s),
            Err(StartError::Missing(what)) if !in_ci() => {
                // Through the raw handle, not eprintln!, so that libtest's output capture
                // does not swallow the message.
                let _ = writeln!(
                    std::io::stderr(),
                    "\n*** SKIPPING {test}: {what} not found (apt-get install slapd ldap-utils, \
                     or run `bash .ci/install-deps`). Under CI=true this is a failure. ***"
                );
                None
            }
            Err(StartError::Missing(what)) => panic!(
                "{test}: {what} is not installed but CI=true; `.ci/install-deps` must install \
                 slapd and ldap-utils"
            ),
            Err(StartError::Failed(why)) => panic!("{test}: slapd did not start: {why}"),
        }
    }

    /// `ldap://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// Starts the server on `self.port` and waits until it accepts connections.
    fn run(&mut self) -> Result<(), String> {
        let log = std::fs::File::create(self.dir.join("slapd.log")).map_err(|e| e.to_string())?;
        // `-d 0`: stay in the foreground (the child is the server), log nothing extra.
        let child = Command::new(&self.slapd)
            .args(&self.config_args)
            .arg("-h")
            .arg(format!("ldap://127.0.0.1:{}/", self.port))
            .args(["-d", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("spawning {}: {e}", self.slapd.display()))?;
        self.child = Some(child);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + START_WAIT;
        while Instant::now() < deadline {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                self.child = None;
                let mut err = String::new();
                let _ = std::fs::File::open(self.dir.join("slapd.log"))
                    .and_then(|mut f| f.read_to_string(&mut err));
                return Err(format!("slapd exited with {status}: {err}"));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.kill();
        Err(format!(
            "slapd on {addr} did not accept connections within {START_WAIT:?}"
        ))
    }

    /// Kills the server at once (SIGKILL): an outage. The data stays for [`Slapd::restart`].
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the killed server again, on the same port with the same data.
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + START_WAIT;
        loop {
            match self.run() {
                Ok(()) => return,
                Err(e) if Instant::now() >= deadline => panic!("slapd did not restart: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// Applies an LDIF change (changetype records) as the root DN with `ldapmodify`.
    /// Panics (a test failure) when the tool fails.
    pub fn modify(&self, ldif: &str) {
        self.ldap_tool("ldapmodify", &[], ldif);
    }

    /// Adds entries as the root DN with `ldapadd`. Panics when the tool fails.
    pub fn add(&self, ldif: &str) {
        self.ldap_tool("ldapadd", &[], ldif);
    }

    /// The entries under `base` matching `filter`, as the root DN sees them: `ldapsearch`'s
    /// LDIF output (`-LLL`, lines not folded), only the attributes `attrs` (all when
    /// empty). Panics when the tool fails.
    pub fn search(&self, base: &str, filter: &str, attrs: &[&str]) -> String {
        let mut args = vec!["-LLL", "-o", "ldif-wrap=no", "-b", base, filter];
        args.extend_from_slice(attrs);
        self.ldap_tool("ldapsearch", &args, "")
    }

    fn ldap_tool(&self, tool: &str, extra: &[&str], stdin: &str) -> String {
        let bin = find(tool).unwrap_or_else(|| panic!("{tool} was found at start-up"));
        let mut child = Command::new(bin)
            .args([
                "-x",
                "-H",
                &self.url(),
                "-D",
                ROOT_DN,
                "-w",
                ROOT_PW,
                "-o",
                "nettimeout=5",
            ])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{tool}: {e}"));
        if let Some(mut input) = child.stdin.take() {
            input
                .write_all(stdin.as_bytes())
                .unwrap_or_else(|e| panic!("{tool}: writing its input: {e}"));
        }
        let out = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("{tool}: {e}"));
        assert!(
            out.status.success(),
            "{tool}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The folder holding the configuration and the data (for files a test adds).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The slapd.conf: Debian's module folder when it has one (a slapd with back_mdb built in
/// needs no moduleload), the schemas, one mdb database for [`SUFFIX`] in `dir/db`, and the
/// access rules rvp's schema asks for (HA1s readable by the service account only).
fn slapd_conf(dir: &Path) -> String {
    let schema = Path::new("/etc/ldap/schema");
    let contrib = contrib_ldap();
    let modules = if Path::new("/usr/lib/ldap/back_mdb.la").exists()
        || Path::new("/usr/lib/ldap/back_mdb.so").exists()
    {
        "modulepath /usr/lib/ldap\nmoduleload back_mdb\n"
    } else {
        ""
    };
    format!(
        "{modules}\
         include {core}\n\
         include {cosine}\n\
         include {inetorgperson}\n\
         include {rvp}\n\
         include {standin}\n\
         pidfile {dir}/slapd.pid\n\
         argsfile {dir}/slapd.args\n\
         database mdb\n\
         maxsize 10485760\n\
         suffix \"{SUFFIX}\"\n\
         rootdn \"{ROOT_DN}\"\n\
         rootpw {ROOT_PW}\n\
         directory {dir}/db\n\
         access to attrs=userPassword,rvpDigestHA1\n\
         \x20   by dn.exact=\"{SERVICE_DN}\" read\n\
         \x20   by anonymous auth\n\
         \x20   by * none\n\
         access to * by * read\n",
        core = schema.join("core.schema").display(),
        cosine = schema.join("cosine.schema").display(),
        inetorgperson = schema.join("inetorgperson.schema").display(),
        rvp = contrib.join("rvp.schema").display(),
        standin = contrib.join("msexchim-standin.schema").display(),
        dir = dir.display(),
    )
}

/// The same server as [`slapd_conf`], as the LDIF of a cn=config folder (for
/// `slapadd -n0`): the schemas included as LDIF, rvp's from `contrib/ldap/rvp.ldif`.
fn cn_config(dir: &Path) -> String {
    let schema = Path::new("/etc/ldap/schema");
    let module = if Path::new("/usr/lib/ldap/back_mdb.la").exists()
        || Path::new("/usr/lib/ldap/back_mdb.so").exists()
    {
        "dn: cn=module{0},cn=config\nobjectClass: olcModuleList\ncn: module{0}\n\
         olcModulePath: /usr/lib/ldap\nolcModuleLoad: back_mdb\n\n"
    } else {
        ""
    };
    let include = |p: PathBuf| format!("include: file://{}\n\n", p.display());
    format!(
        "dn: cn=config\nobjectClass: olcGlobal\ncn: config\n\
         olcPidFile: {dir}/slapd.pid\nolcArgsFile: {dir}/slapd.args\n\n\
         {module}\
         dn: cn=schema,cn=config\nobjectClass: olcSchemaConfig\ncn: schema\n\n\
         {core}{cosine}{inetorgperson}{rvp}\
         dn: olcDatabase={{1}}mdb,cn=config\n\
         objectClass: olcDatabaseConfig\nobjectClass: olcMdbConfig\n\
         olcDatabase: {{1}}mdb\nolcDbDirectory: {dir}/db\nolcDbMaxSize: 10485760\n\
         olcSuffix: {SUFFIX}\nolcRootDN: {ROOT_DN}\nolcRootPW: {ROOT_PW}\n\
         olcAccess: {{0}}to attrs=userPassword,rvpDigestHA1 by dn.exact=\"{SERVICE_DN}\" read \
         by anonymous auth by * none\n\
         olcAccess: {{1}}to * by * read\n",
        dir = dir.display(),
        core = include(schema.join("core.ldif")),
        cosine = include(schema.join("cosine.ldif")),
        inetorgperson = include(schema.join("inetorgperson.ldif")),
        rvp = include(contrib_ldap().join("rvp.ldif")),
    )
}

/// Runs an offline tool (slapadd) to completion.
fn run_tool(cmd: &mut Command, what: &str) -> Result<(), StartError> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| StartError::Failed(format!("{what}: {e}")))?;
    if !out.status.success() {
        return Err(StartError::Failed(format!(
            "{what}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(())
}

/// A port that was free on 127.0.0.1 a moment ago.
fn free_port() -> std::io::Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}
