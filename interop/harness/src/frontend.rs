//! Finding (or building) the front end `rvp-purple` and the librvp plugin.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use crate::HarnessError;

/// Environment variable naming a prebuilt front end binary; when set (with
/// [`ENV_PLUGIN_DIR`]), nothing is built.
pub const ENV_FRONTEND: &str = "RVP_PURPLE_FRONTEND";
/// Environment variable naming the folder that holds `librvp.so`.
pub const ENV_PLUGIN_DIR: &str = "RVP_PURPLE_PLUGIN_DIR";

/// A usable front end: the binary and the plugin folder to pass it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frontend {
    /// The `rvp-purple` executable.
    pub binary: PathBuf,
    /// The folder holding `librvp.so` (`--plugin-dir`).
    pub plugin_dir: PathBuf,
}

/// The front end's sources in this repository (`interop/purple-frontend`).
pub fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../purple-frontend")
}

/// The default build folder: `<workspace>/target/purple` (git-ignored).
pub fn default_build_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/purple")
}

impl Frontend {
    /// The front end named by [`ENV_FRONTEND`] and [`ENV_PLUGIN_DIR`], if both are set.
    pub fn from_env() -> Option<Frontend> {
        let binary = std::env::var_os(ENV_FRONTEND)?;
        let plugin_dir = std::env::var_os(ENV_PLUGIN_DIR)?;
        Some(Frontend {
            binary: binary.into(),
            plugin_dir: plugin_dir.into(),
        })
    }

    /// Runs `build.sh` into `out_dir`: installs missing Debian packages (as root), downloads
    /// and unpacks `pidgin-librvp`, compiles the front end. Idempotent and quick when
    /// everything is up to date.
    pub fn build(out_dir: &Path) -> Result<Frontend, HarnessError> {
        let script = source_dir().join("build.sh");
        let output = Command::new("bash")
            .arg(&script)
            .arg(out_dir)
            .output()
            .map_err(|source| HarnessError::Io {
                what: format!("running {}", script.display()),
                source,
            })?;
        if !output.status.success() {
            return Err(HarnessError::Build {
                status: output.status.to_string(),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            });
        }
        let frontend = Frontend {
            binary: out_dir.join("rvp-purple"),
            plugin_dir: out_dir.join("plugins"),
        };
        if !frontend.plugin_dir.join("librvp.so").is_file() || !frontend.binary.is_file() {
            return Err(HarnessError::Build {
                status: output.status.to_string(),
                stderr: format!(
                    "build.sh succeeded but {} or {}/librvp.so is missing",
                    frontend.binary.display(),
                    frontend.plugin_dir.display()
                ),
            });
        }
        Ok(frontend)
    }

    /// The front end from the environment, else built once per process into
    /// [`default_build_dir`] (later calls reuse the first result, error included).
    pub fn get() -> Result<Frontend, HarnessError> {
        if let Some(frontend) = Frontend::from_env() {
            return Ok(frontend);
        }
        static BUILT: OnceLock<Result<Frontend, String>> = OnceLock::new();
        static BUILDING: Mutex<()> = Mutex::new(());
        let _guard = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
        BUILT
            .get_or_init(|| Frontend::build(&default_build_dir()).map_err(|e| e.to_string()))
            .clone()
            .map_err(HarnessError::Unavailable)
    }

    /// For tests that need librvp: the front end, or `None` after a loud message on stderr
    /// when it cannot be had outside CI. With `CI=true` a missing front end is a test
    /// failure (panic), never a skip.
    #[allow(clippy::print_stderr)] // the loud skip message is the point
    pub fn require() -> Option<Frontend> {
        match Frontend::get() {
            Ok(frontend) => Some(frontend),
            Err(err) if std::env::var("CI").is_ok_and(|v| v == "true") => {
                panic!("CI=true and the librvp front end is not available: {err}")
            }
            Err(err) => {
                eprintln!(
                    "\n*** SKIPPED: librvp front end not available ({err}).\n\
                     *** Run `bash interop/purple-frontend/build.sh` as root to enable \
                     librvp interop tests.\n"
                );
                None
            }
        }
    }
}
