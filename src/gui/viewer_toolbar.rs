//! The toolbar over the films and the saliency row under it: free functions over the viewer's
//! state and the settings they change, which queue commands for the app to run after the frame.

use egui::{Color32, RichText, Ui};

use super::command::UICommand;
use super::command_handling::AppCommand;
use super::menus;
use super::settings::Settings;
use super::viewer::{Preset, ViewerState};
use super::workspace::Workspace;
use crate::inference::saliency::Colormap;
use crate::taxonomy::Taxonomy;

/// What the toolbar reads besides the viewer and the settings.
pub struct ToolbarInput<'a> {
    /// The open folder (the selected specimen's scores, for the saliency row).
    pub workspace: Option<&'a Workspace>,
    /// The taxonomy in use.
    pub taxonomy: &'a Taxonomy,
}

/// The toolbar over the films: view tools and toggles, the Window, Measure and Saliency menus,
/// the orientation note, and the saliency row.
pub fn show(
    ui: &mut Ui,
    input: &ToolbarInput<'_>,
    viewer: &mut ViewerState,
    settings: &mut Settings,
    queue: &mut Vec<AppCommand>,
) {
    // One row of tools, the window and saliency settings in menus, then one row naming what
    // the overlay shows: a short toolbar leaves the height to the films.
    ui.horizontal_wrapped(|ui| {
        for c in [UICommand::Fit, UICommand::OneToOne, UICommand::RotateClockwise, UICommand::FlipHorizontal] {
            menus::tool_button(ui, queue, c);
        }
        let ctx = ui.ctx().clone();
        let mut toggles = [
            (UICommand::HeadUp, viewer.head_up),
            (UICommand::LinkZoom, viewer.linked),
            (UICommand::Invert, viewer.invert),
            (UICommand::ToggleReference, viewer.reference.is_some()),
            (UICommand::ToggleOverlay, viewer.overlay),
        ];
        for (c, on) in &mut toggles {
            let shortcut = c.shortcut_text(&ctx);
            if ui.toggle_value(on, c.short_label()).on_hover_text(format!("{} ({shortcut})", c.tooltip())).clicked() {
                queue.push(AppCommand::Ui(*c));
            }
        }
        ui.menu_button("Window", |ui| window_menu(ui, viewer, queue));
        ui.menu_button("Measure", |ui| {
            for kind in crate::review::MeasureKind::ALL {
                let on = viewer.measure.as_ref().is_some_and(|t| t.kind == kind);
                let c = UICommand::Measure(kind);
                let button = egui::Button::selectable(on, c.label()).shortcut_text(c.shortcut_text(ui.ctx()));
                if ui.add(button).on_hover_text(c.tooltip()).clicked() {
                    queue.push(AppCommand::Ui(c));
                    ui.close();
                }
            }
            menus::command_button(ui, queue, UICommand::FindRuler);
        });
        ui.menu_button("Saliency…", |ui| saliency_menu(ui, settings)).response.on_hover_text("Saliency options");
        // Rotation and mirror stay from specimen to specimen: say so while they are on.
        let o = viewer.orientation;
        if o != Default::default() {
            let mut text = Vec::new();
            if !o.quarter_turns.is_multiple_of(4) {
                text.push(format!("rotated {}°", 90 * u32::from(o.quarter_turns % 4)));
            }
            if o.flip {
                text.push("mirrored".to_owned());
            }
            ui.label(RichText::new(text.join(", ")).color(ui.visuals().warn_fg_color));
            menus::tool_button(ui, queue, UICommand::ResetOrientation);
        }
    });
    // Always drawn, greyed out while the overlay is off, so the films do not jump.
    let overlay = viewer.overlay;
    ui.add_enabled_ui(overlay, |ui| overlay_toolbar(ui, input, viewer, settings));
}

/// Window/level: presets and each view's numbers.
fn window_menu(ui: &mut Ui, viewer: &mut ViewerState, queue: &mut Vec<AppCommand>) {
    for preset in Preset::ALL {
        let c = if preset == Preset::Auto { UICommand::AutoWindow } else { UICommand::WindowPreset(preset) };
        let button = egui::Button::new(preset.label()).shortcut_text(c.shortcut_text(ui.ctx()));
        if ui.add(button).on_hover_text(preset.tooltip()).clicked() {
            queue.push(AppCommand::Ui(c));
            ui.close();
        }
    }
    ui.separator();
    egui::Grid::new("window_numbers").show(ui, |ui| {
        for (k, name) in ["DV", "LV"].into_iter().enumerate() {
            let Some(mut w) = viewer.panels.get(k).and_then(|p| p.shown_window) else { continue };
            let before = w;
            let l = ui.label(format!("{name} width"));
            ui.add(egui::DragValue::new(&mut w.width).range(1.0..=65535.0).speed(10.0)).labelled_by(l.id);
            let l = ui.label("level");
            ui.add(egui::DragValue::new(&mut w.center).range(0.0..=65535.0).speed(10.0)).labelled_by(l.id);
            ui.end_row();
            if w != before
                && let Some(p) = viewer.panels.get_mut(k)
            {
                p.window = Some(w);
            }
        }
    });
    ui.label(RichText::new("Right-drag on a film: sideways the width, up and down the level").small());
}

/// How the saliency is drawn.
fn saliency_menu(ui: &mut Ui, settings: &mut Settings) {
    ui.spacing_mut().slider_width = 100.0;
    ui.horizontal(|ui| {
        ui.label("Colormap");
        for c in Colormap::ALL {
            ui.selectable_value(&mut settings.colormap, c, c.as_str());
        }
    });
    ui.checkbox(&mut settings.overlay_contour, "contour lines instead of a filled map");
    ui.add(egui::Slider::new(&mut settings.overlay_opacity, 0.0..=1.0).text("opacity"));
    ui.add(egui::Slider::new(&mut settings.overlay_threshold, 0.0..=0.9).text("threshold"))
        .on_hover_text("Evidence weaker than this fraction of the specimen's strongest is not drawn");
}

/// The class whose saliency is drawn: the chosen one, else the selected specimen's top
/// finding, else the abnormal node itself.
pub fn saliency_class(workspace: Option<&Workspace>, viewer: &ViewerState, taxonomy: &Taxonomy) -> Option<usize> {
    let ws = workspace?;
    let scored = ws.selected.and_then(|i| ws.results.get(i)).and_then(Option::as_ref);
    viewer.overlay_class.or_else(|| {
        scored.map(|r| r.scores.top_finding(taxonomy).and_then(|(id, _)| taxonomy.index_of(id)).unwrap_or(0))
    })
}

/// The saliency row: which class, a legend, and how it is drawn.
fn overlay_toolbar(ui: &mut Ui, input: &ToolbarInput<'_>, viewer: &mut ViewerState, settings: &Settings) {
    let (ws, taxonomy) = (input.workspace, input.taxonomy);
    let scored = ws.and_then(|ws| ws.selected.and_then(|i| ws.results.get(i))).and_then(Option::as_ref);
    let top = scored.and_then(|r| r.scores.top_finding(taxonomy)).and_then(|(id, _)| taxonomy.get(id));
    let shown = viewer.overlay_class.and_then(|c| taxonomy.nodes.get(c)).or(top);
    // Why nothing is drawn.
    let missing = match scored {
        _ if !viewer.overlay => None,
        None if ws.is_some_and(|w| w.selected.is_some()) => Some("this specimen is not classified yet"),
        Some(r) if r.cams.is_none() => {
            Some("these scores come from a decision record; Classify unscored redraws the map")
        }
        _ if shown.is_none() => Some("the model flags no finding here; choose a class"),
        _ => None,
    };
    // Fixed content (a message is short), so showing the overlay never moves the films;
    // wrapped, so a narrow window is not pushed wider than it is.
    ui.horizontal_wrapped(|ui| {
        let current = match viewer.overlay_class.and_then(|c| taxonomy.nodes.get(c)) {
            Some(n) => n.label.clone(),
            None => format!("top finding ({})", top.map_or("none", |n| n.label.as_str())),
        };
        let label = ui.label("Saliency for");
        egui::ComboBox::from_id_salt("overlay_class")
            .selected_text(current)
            .width(150.0)
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut viewer.overlay_class, None, "top finding");
                for (i, n) in taxonomy.nodes.iter().enumerate() {
                    ui.selectable_value(&mut viewer.overlay_class, Some(i), &n.label);
                }
            })
            .response
            .labelled_by(label.id);
        legend(ui, settings.colormap);
        if let Some(why) = missing {
            ui.label(RichText::new("no map").color(ui.visuals().warn_fg_color)).on_hover_text(why);
        }
    });
}

/// The colormap from weak to strong evidence (relative to the specimen's strongest, shared by DV
/// and LV).
fn legend(ui: &mut Ui, colormap: Colormap) {
    // One piece: when the row has no room for all of it, it starts the next row (a nested
    // horizontal layout would not wrap, it would run over the findings panel).
    const WIDTH: f32 = 170.0;
    if ui.available_size_before_wrap().x < WIDTH {
        ui.end_row();
    }
    ui.label(RichText::new("weak").small());
    let (rect, response) = ui.allocate_exact_size(egui::vec2(80.0, 10.0), egui::Sense::hover());
    let steps = 32;
    for k in 0..steps {
        let t = k as f32 / (steps - 1) as f32;
        let [r, g, b] = colormap.rgb(t).map(|c| (c * 255.0) as u8);
        let x0 = rect.min.x + rect.width() * k as f32 / steps as f32;
        let x1 = rect.min.x + rect.width() * (k + 1) as f32 / steps as f32;
        let cell = egui::Rect::from_min_max(egui::pos2(x0, rect.min.y), egui::pos2(x1, rect.max.y));
        ui.painter().rect_filled(cell, 0.0, Color32::from_rgb(r, g, b));
    }
    response.on_hover_text("Evidence for the class, from weak to the strongest in this specimen's DV and LV");
    ui.label(RichText::new("strong").small());
}
