//! Execution providers: which device runs a session.
//!
//! Each provider is registered on its own, so the outcome of every attempt is known and can be
//! shown ("CUDA unavailable: libcublasLt.so.13: cannot open shared object file"); ONNX Runtime's
//! own list registration only logs failures. The CPU provider is always there underneath.

use std::fmt;
use std::path::{Path, PathBuf};

use ort::ep::{self, ExecutionProvider as _, ExecutionProviderDispatch};
use ort::session::builder::SessionBuilder;
use serde::{Deserialize, Serialize};

/// The device a user asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    /// The best usable provider: CUDA, else DirectML (Windows) or CoreML (macOS), else CPU.
    #[default]
    Auto,
    /// CPU only.
    Cpu,
    /// NVIDIA CUDA (needs `make setup-gpu`, the driver, CUDA 13 and cuDNN 9); falls back to CPU.
    Cuda,
    /// NVIDIA TensorRT, with CUDA for what TensorRT does not take; engines are cached.
    Tensorrt,
    /// DirectML (Windows builds only).
    Directml,
    /// CoreML (macOS builds only).
    Coreml,
}

impl Device {
    /// Lower-case name, as on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Device::Auto => "auto",
            Device::Cpu => "cpu",
            Device::Cuda => "cuda",
            Device::Tensorrt => "tensorrt",
            Device::Directml => "directml",
            Device::Coreml => "coreml",
        }
    }

    /// Parses a command-line or settings value (case-insensitive).
    pub fn parse(s: &str) -> Option<Device> {
        [Device::Auto, Device::Cpu, Device::Cuda, Device::Tensorrt, Device::Directml, Device::Coreml]
            .into_iter()
            .find(|d| d.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One execution provider ONNX Runtime may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Provider {
    /// TensorRT.
    TensorRt,
    /// CUDA.
    Cuda,
    /// DirectML.
    DirectMl,
    /// CoreML.
    CoreMl,
    /// The default CPU provider.
    Cpu,
}

impl Provider {
    /// Every provider this build knows, most capable first.
    pub const ALL: [Provider; 5] =
        [Provider::TensorRt, Provider::Cuda, Provider::DirectMl, Provider::CoreMl, Provider::Cpu];

    /// Short name for people ("CUDA").
    pub fn label(self) -> &'static str {
        match self {
            Provider::TensorRt => "TensorRT",
            Provider::Cuda => "CUDA",
            Provider::DirectMl => "DirectML",
            Provider::CoreMl => "CoreML",
            Provider::Cpu => "CPU",
        }
    }

    /// ONNX Runtime's identifier ("CUDAExecutionProvider"), as in profiles.
    pub fn ort_name(self) -> &'static str {
        match self {
            Provider::TensorRt => ep::TensorRT::NAME,
            Provider::Cuda => ep::CUDA::NAME,
            Provider::DirectMl => "DmlExecutionProvider",
            Provider::CoreMl => "CoreMLExecutionProvider",
            Provider::Cpu => ep::CPU::NAME,
        }
    }

    /// Whether this binary can register the provider at all (DirectML and CoreML are compiled
    /// only into Windows and macOS builds).
    pub fn compiled(self) -> bool {
        let platform_only = match self {
            Provider::DirectMl => Some(cfg!(target_os = "windows")),
            Provider::CoreMl => Some(cfg!(target_os = "macos")),
            _ => None,
        };
        platform_only.unwrap_or(true)
    }

    /// Whether the loaded ONNX Runtime library was built with this provider (the CPU wheel has
    /// only CPU; the GPU wheel has CUDA and TensorRT). Not the same as usable on this machine.
    pub fn in_library(self) -> bool {
        let r = match self {
            Provider::TensorRt => ep::TensorRT::is_available(),
            Provider::Cuda => ep::CUDA::is_available(),
            Provider::DirectMl => directml_in_library(),
            Provider::CoreMl => coreml_in_library(),
            Provider::Cpu => return true,
        };
        r.unwrap_or(false)
    }

    /// The provider's registration object, configured the way the app uses it.
    fn dispatch(self, cache: Option<&Path>) -> Option<ExecutionProviderDispatch> {
        match self {
            Provider::TensorRt => {
                let mut trt = ep::TensorRT::default().with_device_id(0);
                if let Some(dir) = cache {
                    // Building an engine takes minutes; the cache makes it once per model and GPU.
                    let dir = dir.display().to_string();
                    trt = trt
                        .with_engine_cache(true)
                        .with_engine_cache_path(&dir)
                        .with_timing_cache(true)
                        .with_timing_cache_path(&dir);
                }
                Some(trt.build())
            }
            Provider::Cuda => {
                // cuDNN's NHWC kernels keep the tensor cores busier, and ORT's layout pass then
                // cancels the transposes around our LayerNorms: the two-view ConvNeXt-T ran 1.27x
                // faster in fp32 and 1.21x in fp16 at batch 64 on an H200 (BENCHMARKS.md).
                // MOUSEXRAY_CUDA_NHWC=0 turns it off.
                let nhwc = std::env::var("MOUSEXRAY_CUDA_NHWC").map_or(true, |v| v != "0");
                Some(ep::CUDA::default().with_device_id(0).with_prefer_nhwc(nhwc).build())
            }
            Provider::DirectMl => directml(),
            Provider::CoreMl => coreml(),
            Provider::Cpu => None,
        }
    }
}

#[cfg(target_os = "windows")]
fn directml() -> Option<ExecutionProviderDispatch> {
    Some(ep::DirectML::default().build())
}

#[cfg(target_os = "windows")]
fn directml_in_library() -> ort::Result<bool> {
    ep::DirectML::is_available()
}

#[cfg(not(target_os = "windows"))]
fn directml() -> Option<ExecutionProviderDispatch> {
    None
}

#[cfg(not(target_os = "windows"))]
fn directml_in_library() -> ort::Result<bool> {
    Ok(false)
}

#[cfg(target_os = "macos")]
fn coreml() -> Option<ExecutionProviderDispatch> {
    Some(ep::CoreML::default().build())
}

#[cfg(target_os = "macos")]
fn coreml_in_library() -> ort::Result<bool> {
    ep::CoreML::is_available()
}

#[cfg(not(target_os = "macos"))]
fn coreml() -> Option<ExecutionProviderDispatch> {
    None
}

#[cfg(not(target_os = "macos"))]
fn coreml_in_library() -> ort::Result<bool> {
    Ok(false)
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// What happened when one provider was tried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EpStatus {
    /// Registered: the session may place nodes on it.
    Registered,
    /// Not tried, because a provider before it already registered.
    NotNeeded,
    /// Tried and refused, with ONNX Runtime's reason.
    Failed(String),
}

/// One provider's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpOutcome {
    /// The provider.
    pub provider: Provider,
    /// What happened.
    pub status: EpStatus,
}

/// The providers a session was built with and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpReport {
    /// What the user asked for.
    pub requested: Device,
    /// Each provider tried, in order.
    pub outcomes: Vec<EpOutcome>,
}

impl EpReport {
    /// The provider that runs the model: the first registered one, else the CPU.
    pub fn active(&self) -> Provider {
        self.outcomes.iter().find(|o| o.status == EpStatus::Registered).map_or(Provider::Cpu, |o| o.provider)
    }

    /// One line for logs, the CSV and the status bar: "CUDA", or
    /// "CPU (CUDA unavailable: libcublasLt.so.13: cannot open shared object file)".
    pub fn summary(&self) -> String {
        let active = self.active();
        let failed: Vec<String> = self
            .outcomes
            .iter()
            .filter_map(|o| match &o.status {
                EpStatus::Failed(why) => Some(format!("{} unavailable: {}", o.provider, short_reason(why))),
                _ => None,
            })
            .collect();
        if failed.is_empty() { active.label().to_owned() } else { format!("{active} ({})", failed.join("; ")) }
    }
}

/// The useful tail of an ONNX Runtime registration error (the library that failed to load).
pub fn short_reason(why: &str) -> String {
    let line = why.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or(why).trim();
    match line.rsplit_once("with error: ") {
        Some((_, tail)) => tail.trim().to_owned(),
        None => line.to_owned(),
    }
}

/// The providers to try for a request, in order (the CPU is implicit).
pub fn plan(device: Device) -> Vec<Provider> {
    let platform: Vec<Provider> = [Provider::DirectMl, Provider::CoreMl].into_iter().filter(|p| p.compiled()).collect();
    match device {
        Device::Cpu => Vec::new(),
        // TensorRT is not tried automatically: its first engine build takes minutes.
        Device::Auto => std::iter::once(Provider::Cuda).chain(platform).collect(),
        Device::Cuda => vec![Provider::Cuda],
        Device::Tensorrt => vec![Provider::TensorRt, Provider::Cuda],
        Device::Directml => vec![Provider::DirectMl],
        Device::Coreml => vec![Provider::CoreMl],
    }
}

/// Where TensorRT engines are cached: the user cache dir (`~/.cache/mousexray/tensorrt`).
pub fn tensorrt_cache_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("org", "mousexray", "mousexray").map(|d| d.cache_dir().join("tensorrt"))
}

/// Preloads CUDA and cuDNN libraries from the folders named by `MOUSEXRAY_CUDA_LIB_DIR` and
/// `MOUSEXRAY_CUDNN_LIB_DIR` (for instance pip's `nvidia-*` packages), when set. Without them the
/// system loader path is used. Returns the error text if a library failed to load.
pub fn preload_cuda_from_env() -> Option<String> {
    let cuda = std::env::var_os("MOUSEXRAY_CUDA_LIB_DIR").filter(|v| !v.is_empty()).map(PathBuf::from);
    let cudnn = std::env::var_os("MOUSEXRAY_CUDNN_LIB_DIR").filter(|v| !v.is_empty()).map(PathBuf::from);
    if cuda.is_none() && cudnn.is_none() {
        return None;
    }
    ep::cuda::preload_dylibs(cuda.as_deref(), cudnn.as_deref()).err().map(|e| e.to_string())
}

/// One registration attempt of `provider` on `builder` (`preload_error`: why preloading the
/// CUDA libraries failed, if it did).
pub fn register_one(builder: &mut SessionBuilder, provider: Provider, preload_error: Option<&str>) -> EpStatus {
    if !provider.compiled() {
        return EpStatus::Failed(format!("{provider} is not compiled into this build of mousexray"));
    }
    if let Some(why) = preload_error.filter(|_| matches!(provider, Provider::Cuda | Provider::TensorRt)) {
        return EpStatus::Failed(format!("preloading CUDA libraries failed: {why}"));
    }
    let cache = (provider == Provider::TensorRt).then(tensorrt_cache_dir).flatten();
    if let Some(dir) = &cache {
        let _ = std::fs::create_dir_all(dir);
    }
    match provider.dispatch(cache.as_deref()).map(|d| d.register(builder)) {
        Some(Ok(())) => EpStatus::Registered,
        Some(Err(e)) => EpStatus::Failed(e.to_string()),
        None => EpStatus::Failed(format!("{provider} is not compiled into this build of mousexray")),
    }
}

/// Registers the providers for `device` on `builder`, one by one, stopping at the first that
/// registers (TensorRT is followed by CUDA for the nodes TensorRT leaves).
pub fn register(builder: &mut SessionBuilder, device: Device) -> EpReport {
    let mut outcomes = Vec::new();
    let mut done = false;
    let wants_cuda = plan(device).iter().any(|p| matches!(p, Provider::Cuda | Provider::TensorRt));
    let preload_error = if wants_cuda { preload_cuda_from_env() } else { None };
    for provider in plan(device) {
        if done && !(provider == Provider::Cuda && device == Device::Tensorrt) {
            outcomes.push(EpOutcome { provider, status: EpStatus::NotNeeded });
            continue;
        }
        let status = register_one(builder, provider, preload_error.as_deref());
        match &status {
            EpStatus::Registered => done = true,
            // Asked for by name: say so loudly. Under `auto` a missing GPU is the normal case.
            EpStatus::Failed(why) if device != Device::Auto => {
                tracing::warn!("{provider} unavailable: {}", short_reason(why));
            }
            EpStatus::Failed(why) => tracing::info!("{provider} unavailable: {}", short_reason(why)),
            EpStatus::NotNeeded => {}
        }
        outcomes.push(EpOutcome { provider, status });
    }
    EpReport { requested: device, outcomes }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse_in_any_case() {
        assert_eq!(Device::parse("CUDA"), Some(Device::Cuda));
        assert_eq!(Device::parse(" tensorrt "), Some(Device::Tensorrt));
        assert_eq!(Device::parse("gpu"), None);
        for d in [Device::Auto, Device::Cpu, Device::Cuda, Device::Tensorrt, Device::Directml, Device::Coreml] {
            assert_eq!(Device::parse(d.as_str()), Some(d));
        }
    }

    #[test]
    fn plans_try_gpus_in_order_and_cpu_tries_nothing() {
        assert!(plan(Device::Cpu).is_empty());
        assert_eq!(plan(Device::Cuda), vec![Provider::Cuda]);
        assert_eq!(plan(Device::Tensorrt), vec![Provider::TensorRt, Provider::Cuda]);
        assert_eq!(plan(Device::Auto).first(), Some(&Provider::Cuda));
        assert!(!plan(Device::Auto).contains(&Provider::TensorRt));
    }

    #[test]
    fn the_summary_names_the_fallback_and_the_missing_library() {
        let report = EpReport {
            requested: Device::Cuda,
            outcomes: vec![EpOutcome {
                provider: Provider::Cuda,
                status: EpStatus::Failed(
                    "Failed to load library libonnxruntime_providers_cuda.so with error: libcublasLt.so.13: cannot open shared object file".into(),
                ),
            }],
        };
        assert_eq!(report.active(), Provider::Cpu);
        assert_eq!(report.summary(), "CPU (CUDA unavailable: libcublasLt.so.13: cannot open shared object file)");
        let ok = EpReport {
            requested: Device::Tensorrt,
            outcomes: vec![
                EpOutcome {
                    provider: Provider::TensorRt,
                    status: EpStatus::Failed("libnvinfer.so.10: missing".into()),
                },
                EpOutcome { provider: Provider::Cuda, status: EpStatus::Registered },
            ],
        };
        assert_eq!(ok.active(), Provider::Cuda);
        assert_eq!(ok.summary(), "CUDA (TensorRT unavailable: libnvinfer.so.10: missing)");
    }
}
