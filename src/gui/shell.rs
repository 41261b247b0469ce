//! The thin eframe shell: window options, renderer choice, settings persistence, and the plain
//! message when there is no display.

use std::path::PathBuf;

use super::app::{AppOptions, ReviewApp};
use super::settings::Settings;

/// Key of the settings in eframe's storage.
const SETTINGS_KEY: &str = "mousexray.settings";

/// Which renderer draws the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Renderer {
    /// OpenGL (works on software GL such as Mesa llvmpipe).
    #[default]
    Glow,
    /// wgpu (Vulkan, Metal, DX12).
    Wgpu,
}

/// Why the window could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum GuiError {
    /// No X11 or Wayland display.
    #[error(
        "no display: the review window needs X11 or Wayland (DISPLAY or WAYLAND_DISPLAY is not set).\n\
         The headless commands work without one: mousexray scan | predict | export | eval | train | doctor (see --help)"
    )]
    NoDisplay,
    /// eframe failed.
    #[error("the window could not be opened: {0}")]
    Eframe(String),
}

/// Whether a display server is reachable (Linux and BSD; elsewhere assumed).
pub fn display_available() -> bool {
    if cfg!(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd", target_os = "netbsd")) {
        ["DISPLAY", "WAYLAND_DISPLAY"].iter().any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
    } else {
        true
    }
}

struct Shell {
    app: ReviewApp,
}

impl eframe::App for Shell {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.app.ui(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, SETTINGS_KEY, &self.app.persisted_settings());
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        self.app.on_exit();
    }
}

/// Opens the window on `folder`, else the last folder, else the bundled sample.
pub fn run(folder: Option<PathBuf>, options: AppOptions, renderer: Renderer) -> Result<(), GuiError> {
    if !display_available() {
        return Err(GuiError::NoDisplay);
    }
    let app_options = AppOptions { native_dialogs: true, ..options };
    let options = eframe::NativeOptions {
        renderer: match renderer {
            Renderer::Glow => eframe::Renderer::Glow,
            Renderer::Wgpu => eframe::Renderer::Wgpu,
        },
        viewport: egui::ViewportBuilder::default()
            .with_title("mousexray")
            .with_app_id("mousexray")
            .with_inner_size([1400.0, 860.0])
            .with_min_inner_size([900.0, 560.0])
            .with_drag_and_drop(true),
        ..Default::default()
    };
    eframe::run_native(
        "mousexray",
        options,
        Box::new(move |cc| {
            let settings: Settings = cc.storage.and_then(|s| eframe::get_value(s, SETTINGS_KEY)).unwrap_or_default();
            let mut app = ReviewApp::new(settings, app_options);
            let start = folder
                .or_else(|| app.settings.recent_folders.first().cloned().filter(|f| f.is_dir()))
                .or_else(bundled_sample);
            if let Some(f) = start {
                app.open_folder(&cc.egui_ctx, f);
            }
            Ok(Box::new(Shell { app }))
        }),
    )
    .map_err(|e| GuiError::Eframe(e.to_string()))
}

/// `assets/sample` beside the executable's project, or in the current directory.
fn bundled_sample() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let mut candidates = vec![PathBuf::from("assets/sample")];
    // target/release/mousexray -> project root.
    if let Some(root) = exe.parent().and_then(|p| p.parent()).and_then(|p| p.parent()) {
        candidates.push(root.join("assets/sample"));
    }
    candidates.into_iter().find(|p| p.is_dir())
}
