//! The centre of the window: DV and LV side by side with zoom, pan, window/level, orientation,
//! a pixel readout and the saliency overlay, which is drawn with the image's own texture
//! coordinates so it stays on the same anatomy under every zoom, pan, rotation and flip.

use std::path::{Path, PathBuf};

use egui::{Color32, Mesh, Pos2, Rect, Sense, TextureHandle, TextureOptions, Ui, pos2, vec2};

use super::images::{ImageCache, LoadedImage, Slot};
use super::view_math::{Orientation, PanZoom, Placement, fit_scale};
use super::workspace::Scored;
use crate::imaging::Window;
use crate::inference::saliency::{OverlayStyle, class_grids, colorize, shared_scale, to_original};
use crate::specimen::{Specimen, View};

/// DV is panel 0, LV panel 1.
pub const PANELS: [View; 2] = [View::Dv, View::Lv];

/// A texture and what it was made from.
struct Cached<K> {
    key: K,
    texture: TextureHandle,
}

#[derive(Clone, PartialEq)]
struct ImageKey {
    path: PathBuf,
    window: [u64; 2],
    invert: bool,
}

#[derive(Clone, PartialEq)]
struct OverlayKey {
    specimen: String,
    class: usize,
    style: [u32; 2],
    colormap: crate::inference::saliency::Colormap,
}

/// Window/level presets, from each image's own histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// 0.5th to 99.5th percentile.
    Auto,
    /// The densest values (40th to 99.9th percentile): bone detail.
    Bone,
    /// The lower values (1st to 60th percentile): soft tissue and outline.
    SoftTissue,
    /// The whole bit depth.
    Full,
}

impl Preset {
    /// Every preset.
    pub const ALL: [Preset; 4] = [Preset::Auto, Preset::Bone, Preset::SoftTissue, Preset::Full];

    /// Button text.
    pub fn label(self) -> &'static str {
        match self {
            Preset::Auto => "auto",
            Preset::Bone => "bone",
            Preset::SoftTissue => "soft tissue",
            Preset::Full => "full range",
        }
    }

    fn window(self, img: &LoadedImage) -> Window {
        match self {
            Preset::Auto => img.auto_window,
            Preset::Bone => Window::from_percentiles(&img.display, 0.40, 0.999),
            Preset::SoftTissue => Window::from_percentiles(&img.display, 0.01, 0.60),
            Preset::Full => Window::full(&img.display),
        }
    }
}

/// The viewer's state (not persisted: it follows the specimen).
pub struct ViewerState {
    /// Zoom and pan per panel (panel 0's is used for both when linked).
    pub pan_zoom: [PanZoom; 2],
    /// Zoom and pan together.
    pub linked: bool,
    /// Invert grey levels.
    pub invert: bool,
    /// Display orientation of both views.
    pub orientation: Orientation,
    /// Window per panel; none follows the image's percentiles.
    pub windows: [Option<Window>; 2],
    /// Draw the saliency overlay.
    pub overlay: bool,
    /// The overlay's class; none follows the specimen's top finding.
    pub overlay_class: Option<usize>,
    /// What the pointer is over: view, original pixel and value.
    pub readout: Option<(View, u32, u32, u16)>,
    /// Set 1:1 on the next frame (needs the panel size).
    pub one_to_one: bool,
    /// Apply a preset to both panels on the next frame (needs the images).
    pub preset: Option<Preset>,
    /// The window each panel drew with last frame (for the sliders).
    pub shown_windows: [Option<Window>; 2],
    textures: [Option<Cached<ImageKey>>; 2],
    overlays: [Option<Cached<OverlayKey>>; 2],
}

impl Default for ViewerState {
    fn default() -> Self {
        ViewerState {
            pan_zoom: [PanZoom::default(); 2],
            linked: true,
            invert: false,
            orientation: Orientation::default(),
            windows: [None, None],
            overlay: false,
            overlay_class: None,
            readout: None,
            one_to_one: false,
            preset: None,
            shown_windows: [None, None],
            textures: [None, None],
            overlays: [None, None],
        }
    }
}

/// What the viewer draws this frame.
pub struct ViewerInput<'a> {
    /// The specimen.
    pub specimen: &'a Specimen,
    /// Its model output, if any.
    pub scored: Option<&'a Scored>,
    /// The class whose overlay is drawn (resolved from the state and the top finding).
    pub class: Option<usize>,
    /// Overlay opacity and floor.
    pub style: OverlayStyle,
    /// Overlay opacity 0..=1.
    pub opacity: f32,
}

impl ViewerState {
    /// Back to fit, auto window, no readout (a new specimen keeps orientation and invert).
    pub fn reset_view(&mut self) {
        self.pan_zoom = [PanZoom::default(); 2];
        self.windows = [None, None];
        self.readout = None;
    }

    /// Multiplies the zoom of both panels about their centres.
    pub fn zoom_by(&mut self, factor: f32) {
        for pz in &mut self.pan_zoom {
            pz.zoom =
                (pz.zoom * factor).clamp(*super::view_math::ZOOM_RANGE.start(), *super::view_math::ZOOM_RANGE.end());
        }
    }

    /// Draws DV and LV side by side in the remaining space.
    pub fn show(&mut self, ui: &mut Ui, images: &mut ImageCache, input: &ViewerInput<'_>) {
        // Never wider than the panel, whatever the toolbar above asked for.
        let full = ui.available_rect_before_wrap().intersect(ui.clip_rect());
        let gap = 6.0;
        let w = ((full.width() - gap) / 2.0).max(1.0);
        let rects = [
            Rect::from_min_size(full.min, vec2(w, full.height())),
            Rect::from_min_size(pos2(full.min.x + w + gap, full.min.y), vec2(w, full.height())),
        ];
        ui.allocate_rect(full, Sense::hover());
        self.readout = None;
        self.shown_windows = [None, None];
        for (k, view) in PANELS.into_iter().enumerate() {
            let Some(rect) = rects.get(k).copied() else { continue };
            // Each panel gets its own id scope (sibling panels otherwise share interaction ids).
            ui.push_id(view.as_str(), |ui| self.panel(ui, rect, k, view, images, input));
        }
        self.preset = None;
        self.one_to_one = false;
    }

    #[allow(clippy::too_many_lines)]
    fn panel(
        &mut self,
        ui: &mut Ui,
        rect: Rect,
        k: usize,
        view: View,
        images: &mut ImageCache,
        input: &ViewerInput<'_>,
    ) {
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 0.0, Color32::from_gray(12));
        let title = format!("{} ({})", view.as_str().to_uppercase(), view.impc_parameter());
        let title_pos = rect.left_top() + vec2(6.0, 4.0);
        let Some(path) = input.specimen.images.get(&view) else {
            painter.text(
                rect.center(),
                egui::Align2::CENTER_CENTER,
                format!("no {} image", view.as_str().to_uppercase()),
                egui::FontId::proportional(14.0),
                Color32::GRAY,
            );
            painter.text(
                title_pos,
                egui::Align2::LEFT_TOP,
                title,
                egui::FontId::proportional(13.0),
                Color32::LIGHT_GRAY,
            );
            return;
        };
        let img = match images.get(path, true) {
            Slot::Ready(img) => img,
            Slot::Loading => {
                painter.text(
                    rect.center(),
                    egui::Align2::CENTER_CENTER,
                    "loading…",
                    egui::FontId::proportional(14.0),
                    Color32::GRAY,
                );
                return;
            }
            Slot::Failed(why) => {
                painter.text(
                    rect.center(),
                    egui::Align2::CENTER_CENTER,
                    format!("cannot show {}:\n{why}", file_name(path)),
                    egui::FontId::proportional(13.0),
                    Color32::LIGHT_RED,
                );
                return;
            }
        };
        if let Some(preset) = self.preset
            && let Some(slot) = self.windows.get_mut(k)
        {
            *slot = Some(preset.window(&img));
        }
        let size = vec2(img.display.width as f32, img.display.height as f32);
        let oriented = self.orientation.oriented_size(size);
        let pz_index = if self.linked { 0 } else { k };
        if self.one_to_one {
            // One screen pixel (physical) per original pixel.
            let fit = fit_scale(rect.size(), oriented);
            let ppp = ui.ctx().pixels_per_point();
            if let Some(pz) = self.pan_zoom.get_mut(pz_index) {
                pz.zoom = (1.0 / (img.downscale as f32 * ppp * fit)).clamp(0.1, 64.0);
            }
        }
        let pz = self.pan_zoom.get(pz_index).copied().unwrap_or_default();
        let placement = Placement::new(rect, oriented, pz);

        // Interaction: drag pans, scroll zooms about the pointer, right-drag sets window/level.
        let response = ui.interact(rect, ui.scope_id().with("panel"), Sense::click_and_drag());
        let mut new_pz = pz;
        if response.dragged_by(egui::PointerButton::Primary) {
            new_pz.pan(response.drag_delta(), &placement);
        }
        let window = self.windows.get(k).copied().flatten().unwrap_or(img.auto_window);
        if response.dragged_by(egui::PointerButton::Secondary) {
            let d = response.drag_delta();
            let range = f64::from(img.display.max_value()).max(1.0);
            let step = range / 1000.0;
            let w = Window {
                center: window.center - f64::from(d.y) * step,
                width: (window.width + f64::from(d.x) * step).max(1.0),
            };
            if let Some(slot) = self.windows.get_mut(k) {
                *slot = Some(w);
            }
        }
        if let Some(hover) = response.hover_pos() {
            let (scroll, pinch) = ui.input(|i| (i.smooth_scroll_delta.y, i.zoom_delta()));
            let factor = (scroll / 200.0).exp() * pinch;
            if (factor - 1.0).abs() > 1e-4 {
                new_pz.zoom_about(factor, hover, &placement);
            }
            let q = placement.to_image(hover);
            let p = self.orientation.from_oriented(q, size);
            let (x, y) = ((f64::from(p.x) * img.downscale).floor(), (f64::from(p.y) * img.downscale).floor());
            if x >= 0.0
                && y >= 0.0
                && let Some(v) = img.original.get(x as u32, y as u32)
            {
                self.readout = Some((view, x as u32, y as u32, v));
            }
        }
        if response.double_clicked() {
            new_pz = PanZoom::default();
        }
        if let Some(slot) = self.pan_zoom.get_mut(pz_index) {
            *slot = new_pz;
        }

        let window = self.windows.get(k).copied().flatten().unwrap_or(img.auto_window);
        if let Some(slot) = self.shown_windows.get_mut(k) {
            *slot = Some(window);
        }
        let texture = self.image_texture(ui.ctx(), k, path, &img, window);
        let screen = placement.image_rect();
        painter.add(oriented_mesh(texture.id(), screen, self.orientation, Color32::WHITE));

        if self.overlay
            && let (Some(scored), Some(class)) = (input.scored, input.class)
            && let Some(tex) = self.overlay_texture(ui.ctx(), k, input, scored, class, &img)
        {
            painter.add(oriented_mesh(
                tex.id(),
                screen,
                self.orientation,
                Color32::WHITE.gamma_multiply(input.opacity),
            ));
        }
        painter.text(title_pos, egui::Align2::LEFT_TOP, title, egui::FontId::proportional(13.0), Color32::LIGHT_GRAY);
        let info = format!(
            "W {:.0} L {:.0}  {:.0}%",
            window.width,
            window.center,
            placement.scale * 100.0 * ui.ctx().pixels_per_point() / img.downscale as f32
        );
        painter.text(
            rect.right_bottom() + vec2(-6.0, -4.0),
            egui::Align2::RIGHT_BOTTOM,
            info,
            egui::FontId::monospace(11.0),
            Color32::GRAY,
        );
    }

    fn image_texture(
        &mut self,
        ctx: &egui::Context,
        k: usize,
        path: &Path,
        img: &LoadedImage,
        window: Window,
    ) -> TextureHandle {
        let key = ImageKey {
            path: path.to_owned(),
            window: [window.center.to_bits(), window.width.to_bits()],
            invert: self.invert,
        };
        let options = TextureOptions { magnification: egui::TextureFilter::Nearest, ..TextureOptions::LINEAR };
        let slot = &mut self.textures[k.min(1)];
        match slot {
            Some(c) if c.key == key => c.texture.clone(),
            Some(c) => {
                c.texture.set(img.render(&window, self.invert), options);
                c.key = key;
                c.texture.clone()
            }
            None => {
                let texture = ctx.load_texture(format!("view{k}"), img.render(&window, self.invert), options);
                *slot = Some(Cached { key, texture: texture.clone() });
                texture
            }
        }
    }

    fn overlay_texture(
        &mut self,
        ctx: &egui::Context,
        k: usize,
        input: &ViewerInput<'_>,
        scored: &Scored,
        class: usize,
        img: &LoadedImage,
    ) -> Option<TextureHandle> {
        let cams = scored.cams.as_ref()?;
        let transform = scored.transforms.get(k).copied().flatten()?;
        let key = OverlayKey {
            specimen: input.specimen.id.clone(),
            class,
            style: [input.style.floor.to_bits(), input.style.max_alpha.to_bits()],
            colormap: input.style.colormap,
        };
        let slot = &mut self.overlays[k.min(1)];
        if let Some(c) = slot.as_ref()
            && c.key == key
        {
            return Some(c.texture.clone());
        }
        let grids = class_grids(cams, scored.views_used, class);
        let grid = grids.get(k)?.as_ref()?;
        let map = to_original(grid, &transform, img.downscale);
        let rgba = colorize(&map, shared_scale(&grids), &input.style);
        let image =
            egui::ColorImage::from_rgba_unmultiplied([rgba.width() as usize, rgba.height() as usize], rgba.as_raw());
        let texture = ctx.load_texture(format!("overlay{k}"), image, TextureOptions::LINEAR);
        *slot = Some(Cached { key, texture: texture.clone() });
        Some(texture)
    }
}

/// A textured quad on `screen` whose texture coordinates follow `orientation`.
fn oriented_mesh(texture: egui::TextureId, screen: Rect, orientation: Orientation, tint: Color32) -> Mesh {
    let mut mesh = Mesh::with_texture(texture);
    let corners: [Pos2; 4] = [screen.left_top(), screen.right_top(), screen.right_bottom(), screen.left_bottom()];
    for (pos, uv) in corners.into_iter().zip(orientation.corner_uvs()) {
        mesh.vertices.push(egui::epaint::Vertex { pos, uv, color: tint });
    }
    mesh.add_triangle(0, 1, 2);
    mesh.add_triangle(0, 2, 3);
    mesh
}

fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned())
}
