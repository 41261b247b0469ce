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
