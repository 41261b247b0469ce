//! The centre of the window: DV and LV side by side with zoom, pan, window/level, orientation,
//! a pixel readout and the saliency overlay, which is drawn with the image's own texture
//! coordinates so it stays on the same anatomy under every zoom, pan, rotation and flip.

use std::path::{Path, PathBuf};

use egui::{Color32, Mesh, Pos2, Rect, Sense, TextureHandle, TextureOptions, Ui, Vec2, pos2, vec2};

use super::images::{ImageCache, LoadedImage, Slot};
use super::view_math::{Orientation, PanZoom, Placement, fit_scale};
use super::workspace::Scored;
use crate::imaging::Window;
use crate::inference::saliency::{OverlayStyle, class_grids, colorize, shared_scale, to_original};
use crate::specimen::{ScanReport, Specimen, View};

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
    contour: bool,
}

/// Window/level presets, from each image's own histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

    /// Hover text.
    pub fn tooltip(self) -> &'static str {
        match self {
            Preset::Auto => "Window from the 0.5th to the 99.5th percentile of each film",
            Preset::Bone => "Bone detail: the densest values (40th to 99.9th percentile)",
            Preset::SoftTissue => "Soft tissue and outline: the lower values (1st to 60th percentile)",
            Preset::Full => "The film's whole bit depth",
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
    /// The panes: DV, LV (or an extra view), reference.
    pub panels: [Panel; 3],
    /// Zoom and pan together.
    pub linked: bool,
    /// Invert grey levels.
    pub invert: bool,
    /// Display orientation of both views (after the head-up turns, when those are on).
    pub orientation: Orientation,
    /// Hanging protocol: each film turned by quarter turns so the animal's head is up.
    pub head_up: bool,
    /// Draw the saliency overlay.
    pub overlay: bool,
    /// The overlay's class; none follows the specimen's top finding.
    pub overlay_class: Option<usize>,
    /// What the pointer is over: view, original pixel and value.
    pub readout: Option<(View, u32, u32, u16)>,
    /// Set 1:1 on the next frame (needs the panel size).
    pub one_to_one: bool,
    /// An extra view (skull, paw, ...) shown in the right panel instead of LV.
    pub extra: Option<View>,
    /// A third panel with this view of a wild-type reference specimen.
    pub reference: Option<View>,
    /// Apply a preset to both panels on the next frame (needs the images).
    pub preset: Option<Preset>,
    /// The measuring tool in use, with its clicks so far.
    pub measure: Option<super::measure::MeasureTool>,
    /// A measurement finished this frame, and its specimen, for the app to record.
    pub measured: Option<(String, crate::review::Measurement)>,
    /// A menu or popup was open when this frame began: a click on a film then only closes it.
    pub popup_was_open: bool,
}

/// One film pane: its zoom, pan and window, what it drew last frame, and its textures.
#[derive(Default)]
pub struct Panel {
    /// Zoom and pan (panel 0's is used by all when linked).
    pub pan_zoom: PanZoom,
    /// The window; none follows the image's percentiles.
    pub window: Option<Window>,
    /// The window it drew with last frame (for the sliders).
    pub shown_window: Option<Window>,
    /// Where it was drawn last frame (screen points).
    pub shown_rect: Option<Rect>,
    /// The orientation its film was drawn in last frame (head-up turns included).
    pub shown_orientation: Option<Orientation>,
    texture: Option<Cached<ImageKey>>,
    detail: Option<Detail>,
    overlay: Option<Cached<OverlayKey>>,
}

impl Panel {
    /// Forgets what was drawn last frame.
    fn clear_shown(&mut self) {
        (self.shown_window, self.shown_rect, self.shown_orientation) = (None, None, None);
    }
}

impl Default for ViewerState {
    fn default() -> Self {
        ViewerState {
            panels: Default::default(),
            linked: true,
            invert: false,
            orientation: Orientation::default(),
            head_up: false,
            overlay: false,
            overlay_class: None,
            readout: None,
            one_to_one: false,
            preset: None,
            extra: None,
            reference: None,
            measure: None,
            measured: None,
            popup_was_open: false,
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
    /// The wild-type reference specimen, when the reference panel is on.
    pub reference: Option<&'a Specimen>,
    /// The folder's scan, to say why a view is missing.
    pub report: &'a ScanReport,
    /// The specimen's measurements.
    pub measurements: &'a [crate::review::Measurement],
    /// The folder's ruler calibration, for films without their own pixel spacing.
    pub ruler: Option<&'a crate::review::Scale>,
    /// Names the findings marks point at.
    pub taxonomy: &'a crate::taxonomy::Taxonomy,
}

/// A pane's title on a dark plate, so it stays readable over bright bone.
fn pane_title(painter: &egui::Painter, pos: Pos2, title: String) {
    let galley = painter.layout_no_wrap(title, egui::FontId::proportional(14.0), Color32::WHITE);
    let plate = Rect::from_min_size(pos, galley.size()).expand2(vec2(5.0, 2.0));
    painter.rect_filled(plate, 3.0, Color32::from_black_alpha(170));
    painter.galley(pos, galley, Color32::WHITE);
}

/// `user` after the quarter turns that bring the head up, when `head_up` is on and `axis` was
/// found; `user` alone otherwise. The mirror stays the reviewer's: it never changes which end
/// is up.
pub fn head_up_orientation(user: Orientation, head_up: bool, axis: Option<&crate::imaging::BodyAxis>) -> Orientation {
    match axis.filter(|_| head_up) {
        Some(a) => Orientation { quarter_turns: (user.quarter_turns + a.head_up_turns()) % 4, flip: user.flip },
        None => user,
    }
}

/// Points of right-drag that move the window by the film's own range (its auto window's width).
pub const WINDOW_DRAG_POINTS: f64 = 400.0;

/// The window after a right-drag of `delta` points: sideways changes the width, up raises the
/// level. Each point moves by 1/[`WINDOW_DRAG_POINTS`] of the film's own range (`auto`'s
/// width, 0.5th to 99.5th percentile) rather than of the bit depth, so a 12-bit film in a
/// 16-bit file is not blown out by a short drag (as OHIF and 3D Slicer scale it).
pub fn drag_window(window: Window, auto: Window, delta: egui::Vec2) -> Window {
    let step = auto.width.max(1.0) / WINDOW_DRAG_POINTS;
    Window {
        center: window.center - f64::from(delta.y) * step,
        width: (window.width + f64::from(delta.x) * step).max(1.0),
    }
}

/// A message centred in `rect`, wrapped to its width (an error naming a long path must not be
/// cut off on both sides); a label, so screen readers and tests read it too.
fn centred_text(ui: &mut Ui, rect: Rect, text: String, size: f32, color: Color32) {
    ui.put(rect.shrink(12.0), egui::Label::new(egui::RichText::new(text).size(size).color(color)).wrap());
}

impl ViewerState {
    /// Back to fit, auto window, no readout (a new specimen keeps orientation and invert).
    pub fn reset_view(&mut self) {
        for p in &mut self.panels {
            (p.pan_zoom, p.window) = (PanZoom::default(), None);
        }
        self.readout = None;
    }

    /// The orientation `img` is shown in: the reviewer's rotation and mirror after the quarter
    /// turns that bring the animal's head up, when the hanging protocol is on and the head end
    /// was found.
    pub fn orientation_of(&self, img: &LoadedImage) -> Orientation {
        head_up_orientation(self.orientation, self.head_up, img.axis.as_ref())
    }

    /// Multiplies the zoom of both panels about their centres.
    pub fn zoom_by(&mut self, factor: f32) {
        for pz in self.panels.iter_mut().map(|p| &mut p.pan_zoom) {
            pz.zoom =
                (pz.zoom * factor).clamp(*super::view_math::ZOOM_RANGE.start(), *super::view_math::ZOOM_RANGE.end());
        }
    }

    /// Draws DV and LV side by side in the remaining space.
    pub fn show(&mut self, ui: &mut Ui, images: &mut ImageCache, input: &ViewerInput<'_>) {
        // Never wider than the panel, whatever the toolbar above asked for.
        let full = ui.available_rect_before_wrap().intersect(ui.clip_rect());
        let reference = self.reference.zip(input.reference);
        let n = if reference.is_some() { 3 } else { 2 };
        // Side by side, or one above the other when that shows the films larger (landscape
        // films in a wide pane).
        let sizes: Vec<Vec2> = [Some(View::Dv), Some(self.extra.unwrap_or(View::Lv))]
            .into_iter()
            .flatten()
            .filter_map(|v| input.specimen.images.get(&v))
            .filter_map(|p| match images.get(p, false) {
                Slot::Ready(img) => Some(
                    self.orientation_of(&img).oriented_size(vec2(img.display.width as f32, img.display.height as f32)),
                ),
                _ => None,
            })
            .collect();
        let rects = super::view_math::arrange(full, n, &sizes);
        let rect = |k: usize| rects.get(k).copied().unwrap_or(full);
        ui.allocate_rect(full, Sense::hover());
        // Points clicked on another specimen are not this one's.
        if let Some(tool) = self.measure.as_mut()
            && tool.view.as_ref().is_some_and(|(id, _)| *id != input.specimen.id)
        {
            tool.view = None;
            tool.points.clear();
        }
        self.readout = None;
        self.panels.iter_mut().for_each(Panel::clear_shown);
        if self.extra.is_some_and(|v| !input.specimen.images.contains_key(&v)) {
            self.extra = None;
        }
        let mut panels =
            vec![(View::Dv, input.specimen, false), (self.extra.unwrap_or(View::Lv), input.specimen, false)];
        if let Some((view, specimen)) = reference {
            panels.push((view, specimen, true));
        }
        for (k, (view, specimen, is_reference)) in panels.into_iter().enumerate() {
            let r = rect(k);
            if let Some(p) = self.panels.get_mut(k) {
                p.shown_rect = Some(r);
            }
            // Each panel gets its own id scope (sibling panels otherwise share interaction ids).
            ui.push_id(("panel", k), |ui| self.panel(ui, r, k, view, specimen, is_reference, images, input));
        }
        self.preset = None;
        self.one_to_one = false;
        if self.measure.is_some() && ui.input(|i| i.key_pressed(egui::Key::Escape)) {
            self.measure = None;
        }
    }

    #[allow(clippy::too_many_lines, clippy::too_many_arguments)]
    fn panel(
        &mut self,
        ui: &mut Ui,
        rect: Rect,
        k: usize,
        view: View,
        specimen: &Specimen,
        is_reference: bool,
        images: &mut ImageCache,
        input: &ViewerInput<'_>,
    ) {
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 0.0, Color32::from_gray(12));
        let title = if is_reference {
            format!("reference {} {}", specimen.id, view.as_str().to_uppercase())
        } else {
            format!("{} ({})", view.as_str().to_uppercase(), view.impc_parameter())
        };
        let title_pos = rect.left_top() + vec2(6.0, 4.0);
        let Some(path) = specimen.images.get(&view) else {
            match input.report.refused(&specimen.id, view) {
                Some(p) => centred_text(
                    ui,
                    rect,
                    format!("cannot use {}:\n{}: {}", file_name(&p.path), p.kind.as_str(), p.reason),
                    13.0,
                    Color32::LIGHT_RED,
                ),
                None => {
                    centred_text(ui, rect, format!("no {} image", view.as_str().to_uppercase()), 14.0, Color32::GRAY)
                }
            }
            pane_title(&painter, title_pos, title);
            return;
        };
        let img = match images.get(path, true) {
            Slot::Ready(img) => img,
            waiting => {
                match waiting {
                    Slot::Failed(why) => {
                        let text = format!("cannot show {}:\n{why}", file_name(path));
                        centred_text(ui, rect, text, 13.0, Color32::LIGHT_RED);
                    }
                    _ => {
                        let font = egui::FontId::proportional(14.0);
                        painter.text(rect.center(), egui::Align2::CENTER_CENTER, "loading…", font, Color32::GRAY);
                    }
                }
                pane_title(&painter, title_pos, title);
                return;
            }
        };
        if let Some(preset) = self.preset
            && let Some(p) = self.panels.get_mut(k)
        {
            p.window = Some(preset.window(&img));
        }
        let size = vec2(img.display.width as f32, img.display.height as f32);
        let orientation = self.orientation_of(&img);
        if let Some(p) = self.panels.get_mut(k) {
            p.shown_orientation = Some(orientation);
        }
        // Said where it matters: this film stays as stored.
        let title = if self.head_up && img.axis.is_none() { format!("{title} · head end not found") } else { title };
        let oriented = orientation.oriented_size(size);
        let pz_index = if self.linked { 0 } else { k };
        if self.one_to_one {
            // One screen pixel (physical) per original pixel.
            let fit = fit_scale(rect.size(), oriented);
            let ppp = ui.ctx().pixels_per_point();
            if let Some(pz) = self.panels.get_mut(pz_index).map(|p| &mut p.pan_zoom) {
                pz.zoom = (1.0 / (img.downscale as f32 * ppp * fit)).clamp(0.1, 64.0);
            }
        }
        let pz = self.panels.get(pz_index).map(|p| p.pan_zoom).unwrap_or_default();
        let placement = Placement::new(rect, oriented, pz);

        // Interaction: drag pans, scroll zooms about the pointer, right-drag sets window/level.
        let response = ui.interact(rect, ui.scope_id().with("panel"), Sense::click_and_drag());
        let mut new_pz = pz;
        if response.dragged_by(egui::PointerButton::Primary) {
            new_pz.pan(response.drag_delta(), &placement);
        }
        let window = self.panels.get(k).and_then(|p| p.window).unwrap_or(img.auto_window);
        if response.dragged_by(egui::PointerButton::Secondary) {
            let w = drag_window(window, img.auto_window, response.drag_delta());
            if let Some(p) = self.panels.get_mut(k) {
                p.window = Some(w);
            }
        }
        if let Some(hover) = response.hover_pos() {
            let (scroll, pinch) = ui.input(|i| (i.smooth_scroll_delta.y, i.zoom_delta()));
            let factor = (scroll / 200.0).exp() * pinch;
            if (factor - 1.0).abs() > 1e-4 {
                new_pz.zoom_about(factor, hover, &placement);
            }
            let q = placement.to_image(hover);
            let p = orientation.from_oriented(q, size);
            let (x, y) = ((f64::from(p.x) * img.downscale).floor(), (f64::from(p.y) * img.downscale).floor());
            if x >= 0.0
                && y >= 0.0
                && let Some(v) = img.original.get(x as u32, y as u32)
            {
                self.readout = Some((view, x as u32, y as u32, v));
            }
        }
        // Original pixels to screen points and back, through orientation, zoom and pan.
        let downscale = img.downscale;
        let to_screen = |p: [f64; 2]| {
            let d = egui::pos2((p[0] / downscale) as f32, (p[1] / downscale) as f32);
            placement.to_screen(orientation.to_oriented(d, size))
        };
        let to_original = |screen: Pos2| {
            let d = orientation.from_oriented(placement.to_image(screen), size);
            [f64::from(d.x) * downscale, f64::from(d.y) * downscale]
        };
        let measuring = self.measure.is_some() && !is_reference;
        // Clicks off the film (in the panel's margin) are no points.
        let (w, h) = (f64::from(img.original.width), f64::from(img.original.height));
        if measuring
            && response.clicked()
            && !self.popup_was_open
            && let (Some(pos), Some(tool)) = (response.interact_pointer_pos(), self.measure.as_mut())
            && let p = to_original(pos)
            && (0.0..=w).contains(&p[0])
            && (0.0..=h).contains(&p[1])
            && let Some(done) = tool.click(&specimen.id, view, p)
        {
            self.measured = Some(done);
        }
        if response.double_clicked() && !measuring {
            new_pz = PanZoom::default();
        }
        if let Some(p) = self.panels.get_mut(pz_index) {
            p.pan_zoom = new_pz;
        }

        let window = self.panels.get(k).and_then(|p| p.window).unwrap_or(img.auto_window);
        if let Some(p) = self.panels.get_mut(k) {
            p.shown_window = Some(window);
        }
        let texture = self.image_texture(ui.ctx(), k, path, &img, window);
        let screen = placement.image_rect();
        painter.add(oriented_mesh(texture.id(), screen, orientation, Color32::WHITE));
        // Zoomed past the display copy's resolution: the visible part at full resolution.
        let settled = !response.dragged();
        if let Some(mesh) = self.detail(ui.ctx(), k, path, &img, &placement, size, window, settled) {
            painter.add(mesh);
        }

        // Saliency exists for the model's views only.
        if self.overlay
            && !is_reference
            && PANELS.get(k) == Some(&view)
            && let (Some(scored), Some(class)) = (input.scored, input.class)
            && let Some(tex) = self.overlay_texture(ui.ctx(), view, input, scored, class, &img)
        {
            painter.add(oriented_mesh(
                tex.id(),
                screen,
                orientation,
                // Contour lines are thin: drawn opaque whatever the fill's opacity.
                Color32::WHITE.gamma_multiply(if input.style.contour { 1.0 } else { input.opacity }),
            ));
        }
        if !is_reference {
            let scale =
                crate::review::measurement::scale_for(&specimen.id, view, input.measurements, img.spacing, input.ruler);
            let hover = response.hover_pos().filter(|_| measuring);
            let label_of = |id: &str| input.taxonomy.get(id).map_or_else(|| id.to_owned(), |n| n.label.clone());
            super::measure::draw(
                &painter,
                input.measurements,
                &label_of,
                view,
                scale.as_ref(),
                self.measure.as_ref(),
                hover,
                &to_screen,
            );
            if let Some(tool) = self.measure.as_ref().filter(|_| PANELS.contains(&view) || self.extra == Some(view)) {
                painter.text(
                    rect.left_top() + vec2(6.0, 28.0),
                    egui::Align2::LEFT_TOP,
                    tool.hint(),
                    egui::FontId::proportional(13.0),
                    Color32::from_rgb(255, 200, 40),
                );
            }
        }
        pane_title(&painter, title_pos, title);
        let info = format!(
            "W {:.0} L {:.0}  {:.0}%",
            window.width,
            window.center,
            placement.scale * 100.0 * ui.ctx().pixels_per_point() / img.downscale as f32
        );
        // Top right, on a plate like the title: the foot of the films is where messages float.
        let galley = painter.layout_no_wrap(info, egui::FontId::monospace(11.0), Color32::LIGHT_GRAY);
        let pos = rect.right_top() + vec2(-6.0 - galley.size().x, 6.0);
        let plate = Rect::from_min_size(pos, galley.size()).expand2(vec2(4.0, 2.0));
        painter.rect_filled(plate, 3.0, Color32::from_black_alpha(150));
        painter.galley(pos, galley, Color32::LIGHT_GRAY);
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
        let slot = &mut self.panels[k.min(2)].texture;
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
        view: View,
        input: &ViewerInput<'_>,
        scored: &Scored,
        class: usize,
        img: &LoadedImage,
    ) -> Option<TextureHandle> {
        let cams = scored.cams.as_ref()?;
        let transform = scored.transforms.get(view).cloned().flatten()?;
        let k = view.model_slot()?;
        let key = OverlayKey {
            specimen: input.specimen.id.clone(),
            class,
            style: [input.style.floor.to_bits(), input.style.max_alpha.to_bits()],
            colormap: input.style.colormap,
            contour: input.style.contour,
        };
        let slot = &mut self.panels[k.min(2)].overlay;
        if let Some(c) = slot.as_ref()
            && c.key == key
        {
            return Some(c.texture.clone());
        }
        let grids = class_grids(cams, scored.views_used, class);
        let grid = grids.get(view)?.as_ref()?;
        let map = to_original(grid, &transform, img.downscale);
        let rgba = colorize(&map, shared_scale(grids.values()), &input.style);
        let image =
            egui::ColorImage::from_rgba_unmultiplied([rgba.width() as usize, rgba.height() as usize], rgba.as_raw());
        let texture = ctx.load_texture(format!("overlay{k}"), image, TextureOptions::LINEAR);
        *slot = Some(Cached { key, texture: texture.clone() });
        Some(texture)
    }
}

/// A textured quad on `screen` whose texture coordinates follow `orientation`.
pub(super) fn oriented_mesh(texture: egui::TextureId, screen: Rect, orientation: Orientation, tint: Color32) -> Mesh {
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

/// A full-resolution crop of the original, for zoom levels past the display copy.
#[derive(Clone, PartialEq)]
struct DetailKey {
    path: PathBuf,
    /// Crop in original pixels: x0, y0, x1, y1.
    crop: [u32; 4],
    window: [u64; 2],
    invert: bool,
}

struct Detail {
    key: DetailKey,
    texture: Option<TextureHandle>,
    job: Option<super::jobs::Job<egui::ColorImage>>,
}

/// Largest crop side rendered at full resolution (beyond it the display copy is already close).
const DETAIL_MAX_SIDE: u32 = 2048;

impl ViewerState {
    /// The mesh of the full-resolution crop for panel `k`, once rendered (on a thread); none when
    /// the display copy already has enough pixels.
    #[allow(clippy::too_many_arguments)]
    fn detail(
        &mut self,
        ctx: &egui::Context,
        k: usize,
        path: &Path,
        img: &std::sync::Arc<LoadedImage>,
        placement: &Placement,
        size: egui::Vec2,
        window: Window,
        settled: bool,
    ) -> Option<Mesh> {
        let orientation = self.orientation_of(img);
        let slot = &mut self.panels.get_mut(k)?.detail;
        let screen_per_display_px = placement.scale * ctx.pixels_per_point();
        if img.downscale <= 1.0 || screen_per_display_px < 1.5 {
            *slot = None;
            return None;
        }
        let visible = placement.rect.intersect(placement.image_rect());
        let (a, b) = (placement.to_image(visible.min), placement.to_image(visible.max));
        let corners = [a, pos2(b.x, a.y), b, pos2(a.x, b.y)].map(|q| orientation.from_oriented(q, size));
        let k_down = img.downscale as f32;
        let (w, h) = (img.original.width, img.original.height);
        let lo = |v: f32, max: u32| ((v * k_down).floor().max(0.0) as u32).min(max);
        let hi = |v: f32, max: u32| ((v * k_down).ceil().max(0.0) as u32).min(max);
        let x0 = lo(corners.iter().map(|c| c.x).fold(f32::INFINITY, f32::min), w);
        let y0 = lo(corners.iter().map(|c| c.y).fold(f32::INFINITY, f32::min), h);
        let x1 = hi(corners.iter().map(|c| c.x).fold(f32::NEG_INFINITY, f32::max), w);
        let y1 = hi(corners.iter().map(|c| c.y).fold(f32::NEG_INFINITY, f32::max), h);
        if x1 <= x0 || y1 <= y0 || x1 - x0 > DETAIL_MAX_SIDE || y1 - y0 > DETAIL_MAX_SIDE {
            *slot = None;
            return None;
        }
        let key = DetailKey {
            path: path.to_owned(),
            crop: [x0, y0, x1, y1],
            window: [window.center.to_bits(), window.width.to_bits()],
            invert: self.invert,
        };
        let fresh = slot.as_ref().is_some_and(|d| d.key == key);
        if !fresh && settled && slot.as_ref().is_none_or(|d| d.job.is_none()) {
            // Render the crop off the UI thread; the display copy shows meanwhile.
            let (img, invert, crop) = (img.clone(), self.invert, key.crop);
            let job = super::jobs::Job::spawn(ctx, move |send| {
                send(render_crop(&img.original, crop, &window, invert));
            });
            let texture = slot.take().and_then(|d| d.texture);
            *slot = Some(Detail { key: key.clone(), texture, job: Some(job) });
        }
        let d = slot.as_mut()?;
        if let Some(job) = &d.job {
            let (images, finished) = job.drain();
            if let Some(image) = images.into_iter().last() {
                let options = TextureOptions { magnification: egui::TextureFilter::Nearest, ..TextureOptions::LINEAR };
                match &mut d.texture {
                    Some(t) => t.set(image, options),
                    None => d.texture = Some(ctx.load_texture(format!("detail{k}"), image, options)),
                }
                d.job = None;
            } else if finished {
                d.job = None;
            }
        }
        if d.job.is_some() || d.key.crop != key.crop {
            return None;
        }
        let texture = d.texture.as_ref()?;
        let [x0, y0, x1, y1] = d.key.crop.map(|v| v as f32 / k_down);
        let quad = [pos2(x0, y0), pos2(x1, y0), pos2(x1, y1), pos2(x0, y1)];
        let uvs = [pos2(0.0, 0.0), pos2(1.0, 0.0), pos2(1.0, 1.0), pos2(0.0, 1.0)];
        let mut mesh = Mesh::with_texture(texture.id());
        for (p, uv) in quad.into_iter().zip(uvs) {
            let pos = placement.to_screen(orientation.to_oriented(p, size));
            mesh.vertices.push(egui::epaint::Vertex { pos, uv, color: Color32::WHITE });
        }
        mesh.add_triangle(0, 1, 2);
        mesh.add_triangle(0, 2, 3);
        Some(mesh)
    }
}

/// The crop `[x0, y0, x1, y1]` of `image` through `window`.
fn render_crop(image: &crate::imaging::GrayImage16, crop: [u32; 4], window: &Window, invert: bool) -> egui::ColorImage {
    let [x0, y0, x1, y1] = crop;
    let lut = window.lut(image.max_value(), invert);
    let (w, h) = ((x1 - x0) as usize, (y1 - y0) as usize);
    let mut px = Vec::with_capacity(w * h);
    for y in y0..y1 {
        let row = y as usize * image.width as usize;
        let line = image.pixels.get(row + x0 as usize..row + x1 as usize).unwrap_or(&[]);
        px.extend(line.iter().map(|&v| lut.get(usize::from(v)).copied().unwrap_or(255)));
        px.resize(px.len().max((y - y0 + 1) as usize * w), 0);
    }
    egui::ColorImage::from_gray([w, h], &px)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imaging::{FileFormat, GrayImage16};

    #[test]
    fn crops_read_the_original_pixels_through_the_window() {
        let px: Vec<u16> = (0..12).map(|v| v * 100).collect();
        let Some(img) = GrayImage16::new(4, 3, 12, px, FileFormat::Png) else { panic!("image") };
        let window = Window { center: 550.0, width: 1100.0 };
        let crop = render_crop(&img, [1, 1, 3, 3], &window, false);
        assert_eq!(crop.size, [2, 2]);
        let want: Vec<u8> = [5u16, 6, 9, 10].iter().map(|&i| window.level(f64::from(i * 100), false)).collect();
        let got: Vec<u8> = crop.pixels.iter().map(|c| c.r()).collect();
        assert_eq!(got, want);
    }
}
