//! Where training runs: burn's CPU backend (`flex`), or the GPU through burn's wgpu backend
//! (Vulkan on Linux and Windows, Metal on macOS, DX12), chosen at run time in one binary.

use std::sync::OnceLock;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

/// The device `train --device` names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TrainDevice {
    /// burn's CPU backend, every core.
    #[default]
    Cpu,
    /// The first GPU wgpu finds (Vulkan, Metal or DX12; Mesa's lavapipe counts as one).
    Gpu,
}

/// The GPUs wgpu sees on this machine, one line each ("NVIDIA H200 (Vulkan, discrete)"), and
/// whether every one is a software rasteriser (Mesa's llvmpipe or lavapipe), which trains slower
/// than the CPU backend. burn takes the first graphics API with a hardware adapter, else a
/// software one; listing them lets the user see which it could be.
pub fn gpu_adapters() -> (Vec<String>, bool) {
    use burn::tensor::wgpu::wgpu;
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
    let adapters: Vec<wgpu::AdapterInfo> = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()))
        .iter()
        .map(wgpu::Adapter::get_info)
        .collect();
    let software = !adapters.is_empty() && adapters.iter().all(|a| a.device_type == wgpu::DeviceType::Cpu);
    let kind = |t: wgpu::DeviceType| match t {
        wgpu::DeviceType::DiscreteGpu => "discrete",
        wgpu::DeviceType::IntegratedGpu => "integrated",
        wgpu::DeviceType::VirtualGpu => "virtual",
        wgpu::DeviceType::Cpu => "software, on the CPU",
        wgpu::DeviceType::Other => "other",
    };
    let lines = adapters.iter().map(|a| format!("{} ({:?}, {})", a.name, a.backend, kind(a.device_type))).collect();
    (lines, software)
}

impl TrainDevice {
    /// The burn device (without autodiff).
    ///
    /// # Errors
    /// For the GPU, why there is none: no adapter, or one that cannot run compute shaders
    /// (asked once per process; wgpu's runtime is set up once).
    pub fn device(self) -> anyhow::Result<Device> {
        match self {
            TrainDevice::Cpu => Ok(Device::flex()),
            TrainDevice::Gpu => {
                static GPU: OnceLock<Result<Device, String>> = OnceLock::new();
                GPU.get_or_init(|| Device::wgpu_options().init().map_err(|e| e.to_string())).clone().map_err(|e| {
                    anyhow::anyhow!(
                        "no GPU for training through wgpu (Vulkan, Metal or DX12): {e}. On Linux install libvulkan1 \
                             and the GPU's Vulkan driver (NVIDIA's comes with its driver; mesa-vulkan-drivers for AMD \
                             and Intel), or train with --device cpu"
                    )
                })
            }
        }
    }
}
