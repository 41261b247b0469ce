//! Running commands: the queue panels fill while drawing, and the one place each command and
//! decision is carried out once the frame is drawn (as rerun's viewer does).

use std::path::PathBuf;

use super::app::ReviewApp;
use super::command::UICommand;
use super::dialogs::{Dialog, Purpose};
use super::workspace::Workspace;
use crate::review::Decision;
use crate::taxonomy::Level;

/// What the window is asked to do: a command, or an action that carries what it acts on.
/// Panels queue them while drawing ([`ReviewApp::send`]); [`ReviewApp::ui`] runs them after
/// the frame is drawn, so drawing never changes what is being drawn.
#[derive(Debug, Clone, PartialEq)]
pub enum AppCommand {
    /// A command from a menu, button or key.
    Ui(UICommand),
    /// Open this folder (a recent folder).
    OpenFolder(PathBuf),
    /// Select this specimen (a workspace index).
    Select(usize),
    /// A decision on the selected specimen.
    Decide(Decision),
    /// Show the saliency of this class (none: the top finding).
    ShowClass(Option<usize>),
    /// Dismiss the banner at this index.
    DismissBanner(usize),
    /// Call these specimens (workspace indices) normal, as one undo step.
    NormalAll(Vec<usize>),
    /// A measurement finished on a film of this specimen: recorded, or for a calibration or a
    /// mark, its length or finding asked first.
    Measured(String, crate::review::Measurement),
    /// Record this measurement on this specimen (one undo step).
    AddMeasurement(String, crate::review::Measurement),
    /// From the findings panel's measurement list.
    Measure(super::measure::MeasureAction),
    /// A path typed or picked for this purpose.
    Chosen(super::dialogs::Purpose, PathBuf),
    /// The reviewer's name was set: the open review records it from now on.
    SetReviewer(String),
    /// The Settings window changed these settings (the values before): thresholds are applied
    /// again, and a new device or thread count reloads the model.
    SettingsChanged(Box<super::settings::Settings>),
}

impl ReviewApp {
    /// Queues `command` to run after this frame is drawn.
    pub fn send(&mut self, command: AppCommand) {
        self.queue.push(command);
    }

    /// Runs the queued commands (after drawing).
    pub(super) fn run_queued(&mut self, ctx: &egui::Context) {
        for command in std::mem::take(&mut self.queue) {
            self.run(ctx, command);
        }
    }

    /// Runs one command.
    pub fn run(&mut self, ctx: &egui::Context, command: AppCommand) {
        match command {
            AppCommand::Ui(c) => self.execute(ctx, c),
            AppCommand::OpenFolder(f) => self.open_folder(ctx, f),
            AppCommand::Select(i) => self.select(i),
            AppCommand::Decide(d) => {
                self.decide(&d);
            }
            AppCommand::Chosen(purpose, path) => self.chosen(ctx, purpose, path),
            AppCommand::SetReviewer(name) => {
                if let Some(r) = self.workspace.as_mut().and_then(|ws| ws.review.as_mut()) {
                    r.reviewer = name;
                }
            }
            AppCommand::SettingsChanged(before) => {
                if before.thresholds != self.settings.thresholds {
                    self.apply_thresholds();
                }
                if (before.device != self.settings.device || before.threads != self.settings.threads)
                    && self.model.info.is_some()
                {
                    // The model in use stays until it has loaded on the new device.
                    self.load_model(ctx);
                }
            }
            AppCommand::ShowClass(c) => {
                self.viewer.overlay_class = c;
                self.viewer.overlay = true;
            }
            AppCommand::NormalAll(indices) => {
                let Some(ws) = self.workspace.as_mut() else { return };
                match ws.decide_many(&indices, &Decision::Normal, &self.taxonomy) {
                    Ok(d) if d.cleared.is_empty() => {
                        self.notice(format!("called {} specimens normal (Z undoes all of them)", d.changed));
                    }
                    // Calls overruled are named, not cleared silently.
                    Ok(d) => self.notice(format!(
                        "called {} specimens normal, clearing the abnormal calls on {} (Z undoes all of them)",
                        d.changed,
                        d.cleared.join(", ")
                    )),
                    Err(e) => self.error(e),
                }
                self.worklist.invalidate();
            }
            AppCommand::Measured(specimen, m) => {
                if m.is_degenerate() {
                    self.notice("the points coincide, so that measures nothing: measure again".to_owned());
                    return;
                }
                match m.kind {
                    crate::review::MeasureKind::Calibration => {
                        // One calibration is enough: the tool stops.
                        self.viewer.measure = None;
                        self.dialog =
                            super::Dialog::Calibrate { specimen, measurement: m, text: String::new(), found: None };
                    }
                    crate::review::MeasureKind::Mark | crate::review::MeasureKind::Region => {
                        self.dialog = super::Dialog::MarkFinding { specimen, measurement: m };
                    }
                    _ => self.edit_measurements(Some(&specimen), |list| list.push(m)),
                }
            }
            AppCommand::AddMeasurement(specimen, m) => self.edit_measurements(Some(&specimen), |list| list.push(m)),
            AppCommand::Measure(a) => match a {
                super::measure::MeasureAction::Start(kind) => {
                    self.viewer.measure = Some(super::measure::MeasureTool::new(kind));
                }
                super::measure::MeasureAction::FindRuler => self.find_ruler(ctx),
                super::measure::MeasureAction::Remove(k) => self.edit_measurements(None, |list| {
                    if k < list.len() {
                        list.remove(k);
                    }
                }),
                super::measure::MeasureAction::Tibia(k, on) => self.edit_measurements(None, |list| {
                    if let Some(m) = list.get_mut(k) {
                        m.parameter = on.then(|| crate::review::measurement::TIBIA_LENGTH.to_owned());
                    }
                }),
            },
            AppCommand::DismissBanner(i) => {
                if i < self.banners.len() {
                    self.banners.remove(i);
                }
            }
        }
    }

    /// Applies a reviewer's decision to the selected specimen (one undo step) and says which
    /// abnormal calls it cleared; returns whether it was recorded.
    pub fn decide(&mut self, decision: &Decision) -> bool {
        let Some(ws) = self.workspace.as_mut() else { return false };
        let recorded = match ws.decide_selected(decision, &self.taxonomy) {
            Ok(d) if !d.cleared.is_empty() => {
                let names: Vec<&str> =
                    d.cleared.iter().filter_map(|id| self.taxonomy.get(id)).map(|n| n.label.as_str()).collect();
                self.notice(format!("cleared the abnormal call on {} (Z undoes)", names.join(", ")));
                true
            }
            Ok(_) => true,
            Err(e) => {
                self.error(e);
                false
            }
        };
        self.worklist.invalidate();
        recorded
    }

    /// Changes the measurements of `specimen` (default: the selected one) through `change`, as
    /// one undoable edit.
    fn edit_measurements(&mut self, specimen: Option<&str>, change: impl FnOnce(&mut Vec<crate::review::Measurement>)) {
        let Some(ws) = self.workspace.as_mut() else { return };
        let i = match specimen {
            Some(id) => ws.specimens().iter().position(|s| s.id == id),
            None => ws.selected,
        };
        let Some(i) = i else { return };
        let Some(id) = ws.specimens().get(i).map(|s| s.id.clone()) else { return };
        let mut list = ws.review_of(i).map(|r| r.measurements.clone()).unwrap_or_default();
        change(&mut list);
        let Some(review) = ws.review.as_mut() else {
            self.error("the review is not open for this folder, so measurements cannot be recorded".to_owned());
            return;
        };
        if let Err(e) = review.edit(crate::review::Edit::Measurements { specimen: id, measurements: list }) {
            self.error(e.to_string());
        }
    }

    /// A decision that finishes the specimen: applied, then on to the next when auto-advance is on.
    fn decide_and_advance(&mut self, decision: &Decision) {
        // A decision that was not recorded (the review open elsewhere) stays on the specimen:
        // moving on would look like progress.
        if self.decide(decision) && self.settings.auto_advance {
            self.step(1);
        }
    }

    fn step(&mut self, by: isize) {
        let Some(ws) = self.workspace.as_ref() else { return };
        if let Some(i) = self.worklist.step(ws.selected, by) {
            self.select(i);
        }
    }

    /// Runs a command: the one place every menu item, button and key ends up.
    pub fn execute(&mut self, ctx: &egui::Context, command: UICommand) {
        use UICommand::*;
        match command {
            OpenFolder => self.pick(ctx, Purpose::OpenFolder),
            OpenModel => self.pick(ctx, Purpose::OpenModel),
            Export | ExportLong => {
                if self.workspace.is_none() {
                    self.error("open a folder first");
                } else {
                    self.pick(ctx, Purpose::Export { long: command == ExportLong });
                }
            }
            ClassifyAll => self.start_classify(ctx, false),
            ClassifyUnscored => self.start_classify(ctx, true),
            CancelClassify => {
                if let (Some(run), Some(e)) = (self.tasks.classify.as_mut(), self.tasks.engine.as_ref()) {
                    run.cancelling = true;
                    e.cancel.store(true, std::sync::atomic::Ordering::Relaxed);
                }
            }
            ImproveModel => self.dialog = Dialog::Improve,
            Settings => self.dialog = Dialog::Settings,
            Help => self.dialog = if self.dialog == Dialog::Help { Dialog::None } else { Dialog::Help },
            Quit => ctx.send_viewport_cmd(egui::ViewportCommand::Close),
            WindowPreset(p) => self.viewer.preset = Some(p),
            Measure(kind) => {
                let same = self.viewer.measure.as_ref().is_some_and(|t| t.kind == kind);
                self.viewer.measure = (!same).then(|| super::measure::MeasureTool::new(kind));
            }
            ResetOrientation => self.viewer.orientation = Default::default(),
            ToggleWorklist => self.settings.view.worklist_panel = !self.settings.view.worklist_panel,
            ToggleFindings => self.settings.view.findings_panel = !self.settings.view.findings_panel,
            FilmsOnly => {
                let v = &mut self.settings.view;
                let show = !v.worklist_panel && !v.findings_panel;
                (v.worklist_panel, v.findings_panel) = (show, show);
            }
            HeadUp => self.viewer.head_up = !self.viewer.head_up,
            FindRuler => self.find_ruler(ctx),
            SecondReading => self.switch_reading(),
            ContactSheet => self.settings.view.contact_sheet = !self.settings.view.contact_sheet,
            ColonyView => {
                let v = &mut self.settings.view;
                v.colony = !v.colony || !v.contact_sheet;
                v.contact_sheet = true;
            }
            Next => self.step(1),
            Previous => self.step(-1),
            First => {
                if let Some(&i) = self.worklist.order.first() {
                    self.select(i);
                    self.worklist.scroll_to_selection = true;
                }
            }
            MarkAbnormal => self.decide_and_advance(&Decision::Abnormal),
            // With rows marked (Ctrl- or Shift-click), N calls all of them normal at once.
            MarkNormal if !self.worklist.marked.is_empty() => {
                let marked: Vec<usize> = std::mem::take(&mut self.worklist.marked).into_iter().collect();
                self.run(ctx, AppCommand::NormalAll(marked));
            }
            MarkNormal => self.decide_and_advance(&Decision::Normal),
            MarkUnobservable => self.decide_and_advance(&Decision::Unobservable),
            SecondLook => self.decide_and_advance(&Decision::SecondLook),
            FindingNormal(k) => {
                let Some(node) = self.taxonomy.level(Level::L3).nth(usize::from(k)) else { return };
                let node = node.id.clone();
                let current = self.workspace.as_ref().and_then(|ws| ws.selected.and_then(|i| ws.call(i, &node)));
                let call =
                    if current == Some(crate::review::Call::Normal) { None } else { Some(crate::review::Call::Normal) };
                self.decide(&Decision::Call { node, call });
            }
            AllUnflaggedNormal => {
                let Some(ws) = self.workspace.as_ref() else { return };
                let indices = ws.unflagged_unreviewed(&self.worklist.order);
                if indices.is_empty() {
                    self.notice("no listed specimen is classified, unflagged and still unreviewed");
                } else {
                    self.dialog = Dialog::ConfirmNormal { indices };
                }
            }
            ToggleFinding(k) => {
                let Some(node) = self.taxonomy.level(Level::L3).nth(usize::from(k)) else { return };
                let node = node.id.clone();
                self.decide(&Decision::ToggleAbnormal { node });
            }
            ToggleOverlay => self.viewer.overlay = !self.viewer.overlay,
            LinkZoom => {
                self.viewer.linked = !self.viewer.linked;
                if self.viewer.linked {
                    let first = self.viewer.panels[0].pan_zoom;
                    self.viewer.panels.iter_mut().for_each(|p| p.pan_zoom = first);
                }
            }
            Fit => self.viewer.panels.iter_mut().for_each(|p| p.pan_zoom = Default::default()),
            OneToOne => self.viewer.one_to_one = true,
            ZoomIn => self.viewer.zoom_by(1.25),
            ZoomOut => self.viewer.zoom_by(0.8),
            Invert => self.viewer.invert = !self.viewer.invert,
            RotateClockwise => self.viewer.orientation.quarter_turns = (self.viewer.orientation.quarter_turns + 1) % 4,
            FlipHorizontal => self.viewer.orientation.flip = !self.viewer.orientation.flip,
            AutoWindow => self.viewer.panels.iter_mut().for_each(|p| p.window = None),
            ToggleReference => {
                self.viewer.reference = match self.viewer.reference {
                    None => Some(crate::specimen::View::Dv),
                    Some(crate::specimen::View::Dv) => Some(crate::specimen::View::Lv),
                    Some(_) => None,
                };
                if self.viewer.reference.is_some()
                    && self.workspace.as_ref().and_then(Workspace::reference_specimen).is_none()
                {
                    self.notice("no reference: no specimen has biological_sample_group `control`; pin one with P");
                }
            }
            PinReference => {
                if let Some(ws) = self.workspace.as_mut() {
                    ws.reference = ws.selected;
                    if self.viewer.reference.is_none() {
                        self.viewer.reference = Some(crate::specimen::View::Dv);
                    }
                }
            }
            Undo | Redo => {
                let redo = command == Redo;
                let Some(ws) = self.workspace.as_mut() else { return };
                let selected = ws.selected_specimen().map(|s| s.id.clone());
                let Some(review) = ws.review.as_mut() else { return };
                let touched = review.next_step_specimens(redo);
                let result = if redo { review.redo() } else { review.undo() };
                let verb = if redo { "redid" } else { "undid" };
                let index_of = |id: &str| ws.specimens().iter().position(|s| s.id == id);
                let other = match touched.as_slice() {
                    [one] if selected.as_deref() != Some(one.as_str()) => index_of(one).map(|i| (i, one.clone())),
                    _ => None,
                };
                match result {
                    Ok(false) => self.notice(if redo { "nothing to redo" } else { "nothing to undo" }),
                    Ok(true) => {
                        self.worklist.invalidate();
                        // "Z undoes" notices are about what was just undone.
                        self.banners.retain(|b| b.error || !b.text.contains("Z undoes"));
                        // A change on another specimen is shown, not made silently.
                        if let Some((i, id)) = other {
                            self.select(i);
                            self.notice(format!("{verb} the last change, on {id} (now selected)"));
                        } else if touched.len() > 1 {
                            self.notice(format!("{verb} the last change, on {} specimens", touched.len()));
                        }
                    }
                    Err(e) => self.error(e.to_string()),
                }
            }
        }
    }
}
