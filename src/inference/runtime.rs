//! Finding the ONNX Runtime shared library and initialising `ort` with it.
//!
//! `ort` is built with `load-dynamic`: nothing links ONNX Runtime at build time, and the library
//! is loaded here, eagerly, because `ort`'s lazy fallback panics when it finds nothing.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The command that installs the library, named in every "not found" message.
pub const SETUP_COMMAND: &str = "make setup";

/// Where a library candidate came from, in lookup order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LibrarySource {
    /// `--ort-lib` or the app setting.
    Explicit,
    /// The `ORT_DYLIB_PATH` environment variable.
    Environment,
    /// Next to the executable.
    ExeDir,
    /// `<exe dir>/../lib`.
    ExeLib,
    /// `./.ort/gpu/lib` or `./.ort/lib` under the current directory (`make setup-gpu` / `make setup`).
    ProjectDir,
    /// The user data directory (`~/.local/share/mousexray/onnxruntime` on Linux).
    UserData,
}

impl fmt::Display for LibrarySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LibrarySource::Explicit => "--ort-lib / setting",
            LibrarySource::Environment => "ORT_DYLIB_PATH",
            LibrarySource::ExeDir => "next to the executable",
            LibrarySource::ExeLib => "<exe>/../lib",
            LibrarySource::ProjectDir => "./.ort",
            LibrarySource::UserData => "user data directory",
        })
    }
}

/// A loaded ONNX Runtime library.
#[derive(Debug, Clone)]
pub struct OrtLibrary {
    /// The file that was loaded.
    pub path: PathBuf,
    /// How it was found.
    pub source: LibrarySource,
    /// ONNX Runtime's build string.
    pub build_info: String,
    /// The process-wide environment every session is built from (released when dropped, so it
    /// lives here for the life of the process).
    pub environment: ort::environment::Environment,
}

/// Why ONNX Runtime could not be set up.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OrtSetupError {
    /// No candidate file exists.
    #[error("ONNX Runtime library not found; looked in:\n{}\nRun `{SETUP_COMMAND}` (scripts/fetch-onnxruntime.sh), pass --ort-lib FILE or set ORT_DYLIB_PATH", list(.0))]
    NotFound(Vec<PathBuf>),
    /// A file was found but could not be loaded or initialised.
    #[error("ONNX Runtime library {} ({source_kind}) could not be loaded: {reason}\nRun `{SETUP_COMMAND}` (scripts/fetch-onnxruntime.sh) for a compatible 1.31 library", path.display())]
    Load {
        /// The file.
        path: PathBuf,
        /// How it was found.
        source_kind: LibrarySource,
        /// The loader's error.
        reason: String,
    },
}

fn list(paths: &[PathBuf]) -> String {
    paths.iter().map(|p| format!("  {}", p.display())).collect::<Vec<_>>().join("\n")
}

/// File names the library goes by on this platform, most specific first.
fn library_names() -> &'static [&'static str] {
    if cfg!(target_os = "windows") {
        &["onnxruntime.dll"]
    } else if cfg!(target_os = "macos") {
        &["libonnxruntime.1.31.1.dylib", "libonnxruntime.dylib"]
    } else {
        &["libonnxruntime.so.1.31.1", "libonnxruntime.so.1", "libonnxruntime.so"]
    }
}

/// Every place looked at, in order: explicit path, `ORT_DYLIB_PATH`, next to the executable,
/// `<exe>/../lib`, `./.ort/gpu/lib` then `./.ort/lib`, the user data directory.
pub fn candidates(explicit: Option<&Path>) -> Vec<(PathBuf, LibrarySource)> {
    let mut out = Vec::new();
    if let Some(p) = explicit {
        out.push((p.to_owned(), LibrarySource::Explicit));
    }
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        out.push((PathBuf::from(p), LibrarySource::Environment));
    }
    let mut dirs: Vec<(PathBuf, LibrarySource)> = Vec::new();
    if let Some(exe_dir) = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_owned)) {
        dirs.push((exe_dir.clone(), LibrarySource::ExeDir));
        dirs.push((exe_dir.join("..").join("lib"), LibrarySource::ExeLib));
    }
    dirs.push((PathBuf::from(".ort/gpu/lib"), LibrarySource::ProjectDir));
    dirs.push((PathBuf::from(".ort/lib"), LibrarySource::ProjectDir));
    if let Some(d) = directories::ProjectDirs::from("org", "mousexray", "mousexray") {
        dirs.push((d.data_dir().join("onnxruntime"), LibrarySource::UserData));
    }
    for (dir, source) in dirs {
        for name in library_names() {
            out.push((dir.join(name), source));
        }
    }
    out
}

/// The first existing candidate (see [`candidates`]). An explicit or `ORT_DYLIB_PATH` path that
/// does not exist is an error rather than silently skipped: the user asked for it.
pub fn locate_library(explicit: Option<&Path>) -> Result<(PathBuf, LibrarySource), OrtSetupError> {
    let all = candidates(explicit);
    for (path, source) in &all {
        if path.is_file() {
            return Ok((path.clone(), *source));
        }
        if matches!(source, LibrarySource::Explicit | LibrarySource::Environment) {
            return Err(OrtSetupError::Load {
                path: path.clone(),
                source_kind: *source,
                reason: "no such file".into(),
            });
        }
    }
    Err(OrtSetupError::NotFound(all.into_iter().map(|(p, _)| p).collect()))
}

static RUNTIME: OnceLock<Result<OrtLibrary, OrtSetupError>> = OnceLock::new();

/// Loads ONNX Runtime once per process and creates the global `ort` environment.
///
/// The first call decides; later calls return the same outcome whatever path they pass, because
/// a process can hold only one ONNX Runtime.
pub fn init_runtime(explicit: Option<&Path>) -> Result<&'static OrtLibrary, OrtSetupError> {
    RUNTIME
        .get_or_init(|| {
            let (path, source) = locate_library(explicit)?;
            let load_err = |reason: String| OrtSetupError::Load { path: path.clone(), source_kind: source, reason };
            let builder = ort::init_from(&path).map_err(|e| load_err(e.to_string()))?;
            let environment =
                builder.with_name("mousexray").with_telemetry(false).build().map_err(|e| load_err(e.to_string()))?;
            tracing::info!(path = %path.display(), %source, "ONNX Runtime loaded");
            Ok(OrtLibrary { path, source, build_info: ort::info().to_owned(), environment })
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// File names of the bundled models, in order of preference: the app uses the first it finds.
/// The order follows the held-out evaluation (`models/eval_*.md`, README "Bundled models"): the
/// CAE beats the ConvNeXt at every level.
pub const DEFAULT_MODELS: [&str; 2] = ["cae_mv.onnx", "convnext_mv.onnx"];

/// Where the default model is looked for, in order: `./models/`, `<exe dir>/models/`,
/// `<exe dir>/../models/`, then the user data directory's `models/`; in each, the names of
/// [`DEFAULT_MODELS`] in order.
pub fn model_candidates() -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from("models")];
    if let Some(exe_dir) = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_owned)) {
        dirs.push(exe_dir.join("models"));
        dirs.push(exe_dir.join("..").join("models"));
    }
    if let Some(d) = directories::ProjectDirs::from("org", "mousexray", "mousexray") {
        dirs.push(d.data_dir().join("models"));
    }
    DEFAULT_MODELS.iter().flat_map(|name| dirs.iter().map(move |d| d.join(name))).collect()
}

/// The model to use: `explicit` if given (it must exist), else the first default candidate.
pub fn locate_model(explicit: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(p) = explicit {
        return if p.is_file() {
            Ok(p.to_owned())
        } else if p.is_dir() {
            Err(format!("{}: a folder, not a model file (choose a .onnx file in it)", p.display()))
        } else {
            Err(format!("{}: no such model file", p.display()))
        };
    }
    let all = model_candidates();
    all.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
        format!("no model given and no bundled model found; looked for:\n{}\nPass --model FILE", list(&all))
    })
}
