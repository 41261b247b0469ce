//! Every user action as one [`UICommand`]: its label, tooltip and keyboard shortcut. Menus,
//! buttons and keys all send commands; [`crate::gui::ReviewApp::execute`] runs them.

use egui::{Key, KeyboardShortcut, Modifiers};

use super::viewer::Preset;
use crate::review::MeasureKind;

/// A user action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UICommand {
    /// Pick a folder of specimens.
    OpenFolder,
    /// Pick an ONNX model.
    OpenModel,
    /// Classify every specimen of the folder.
    ClassifyAll,
    /// Classify the specimens without scores.
    ClassifyUnscored,
    /// Stop the running classification.
    CancelClassify,
    /// Fine-tune the model on the folder's reviewed specimens, and compare old and new.
    ImproveModel,
    /// Write the review as CSV, a row per specimen.
    Export,
    /// Write the review as IMPC's long CSV, a row per specimen, node and IMPC parameter.
    ExportLong,
    /// Show the settings window.
    Settings,
    /// Show every shortcut.
    Help,
    /// Next specimen in the worklist.
    Next,
    /// Previous specimen in the worklist.
    Previous,
    /// First specimen in the worklist (the most abnormal with the default sort).
    First,
    /// Confirm the specimen abnormal.
    MarkAbnormal,
    /// Call the specimen normal.
    MarkNormal,
    /// Call the specimen unobservable.
    MarkUnobservable,
    /// Ask for a second look.
    SecondLook,
    /// Toggle the reviewer's abnormal call on the L3 finding with this index (0..10).
    ToggleFinding(u8),
    /// Toggle the reviewer's normal call on the L3 finding with this index (0..10).
    FindingNormal(u8),
    /// Call every unflagged, unreviewed, classified specimen of the list normal (asks first).
    AllUnflaggedNormal,
    /// Show or hide the saliency overlay.
    ToggleOverlay,
    /// Link or unlink zoom and pan of DV and LV.
    LinkZoom,
    /// Fit both images to their panels.
    Fit,
    /// Show both images at one screen pixel per image pixel.
    OneToOne,
    /// Zoom in on both images.
    ZoomIn,
    /// Zoom out.
    ZoomOut,
    /// Invert the grey levels.
    Invert,
    /// Rotate both views 90° clockwise for display.
    RotateClockwise,
    /// Mirror both views left to right for display.
    FlipHorizontal,
    /// Window/level from the image's percentiles.
    AutoWindow,
    /// Show a wild-type reference panel (DV, then LV, then off).
    ToggleReference,
    /// Pin the selected specimen as the reference.
    PinReference,
    /// Undo the last review edit.
    Undo,
    /// Redo the last undone edit.
    Redo,
    /// Window/level preset on both views.
    WindowPreset(Preset),
    /// Back to the films' own orientation (no rotation, no mirror).
    ResetOrientation,
    /// Show or hide the worklist.
    ToggleWorklist,
    /// Show or hide the findings panel.
    ToggleFindings,
    /// Films only: hide both side panels, or bring them back.
    FilmsOnly,
    /// Close the window (the review is saved).
    Quit,
    /// Start measuring this on the films (again: stop).
    Measure(MeasureKind),
    /// Find the radiopaque ruler on the selected specimen's films and propose its scale.
    FindRuler,
    /// Record a blinded second reading of the folder, or go back to its review.
    SecondReading,
    /// Hanging protocol: turn every film so the animal's head is up, or show them as stored.
    HeadUp,
    /// The contact sheet instead of the films, or back.
    ContactSheet,
    /// On the contact sheet: the selected specimen's colony beside its matched controls, or the list.
    ColonyView,
}

const fn plain(key: Key) -> KeyboardShortcut {
    KeyboardShortcut::new(Modifiers::NONE, key)
}

const DIGITS: [Key; 10] =
    [Key::Num1, Key::Num2, Key::Num3, Key::Num4, Key::Num5, Key::Num6, Key::Num7, Key::Num8, Key::Num9, Key::Num0];

impl UICommand {
    /// Every command, in menu order (the ten finding toggles last).
    pub fn all() -> Vec<UICommand> {
        use UICommand::*;
        let mut v = vec![
            OpenFolder,
            OpenModel,
            ClassifyAll,
            ClassifyUnscored,
            CancelClassify,
            ImproveModel,
            Export,
            ExportLong,
            Settings,
            Help,
            Next,
            Previous,
            First,
            MarkAbnormal,
            MarkNormal,
            MarkUnobservable,
            SecondLook,
            ToggleOverlay,
            LinkZoom,
            Fit,
            OneToOne,
            ZoomIn,
            ZoomOut,
            Invert,
            RotateClockwise,
            FlipHorizontal,
            AutoWindow,
            ToggleReference,
            PinReference,
            Undo,
            Redo,
            ResetOrientation,
            ToggleWorklist,
            ToggleFindings,
            FilmsOnly,
            HeadUp,
            FindRuler,
            SecondReading,
            ContactSheet,
            ColonyView,
            Quit,
        ];
        v.push(AllUnflaggedNormal);
        v.extend(Preset::ALL.map(WindowPreset));
        v.extend(MeasureKind::ALL.map(Measure));
        v.extend((0..10).map(ToggleFinding));
        v.extend((0..10).map(FindingNormal));
        v
    }

    /// Menu and button text.
    pub fn label(self) -> String {
        use UICommand::*;
        match self {
            OpenFolder => "Open folder…".into(),
            OpenModel => "Open model…".into(),
            ClassifyAll => "Classify all".into(),
            ClassifyUnscored => "Classify unscored".into(),
            CancelClassify => "Cancel classification".into(),
            ImproveModel => "Improve with my reviews…".into(),
            Export => "Export CSV…".into(),
            ExportLong => "Export IMPC long CSV…".into(),
            Settings => "Settings…".into(),
            Help => "Keyboard shortcuts".into(),
            Next => "Next specimen".into(),
            Previous => "Previous specimen".into(),
            First => "First specimen".into(),
            MarkAbnormal => "Abnormal".into(),
            MarkNormal => "Normal".into(),
            MarkUnobservable => "Unobservable".into(),
            SecondLook => "Second look".into(),
            ToggleFinding(i) => format!("Toggle finding {}", (u32::from(i) + 1) % 10),
            FindingNormal(i) => format!("Finding {} normal", (u32::from(i) + 1) % 10),
            AllUnflaggedNormal => "Call all unflagged normal…".into(),
            ToggleOverlay => "Saliency overlay".into(),
            LinkZoom => "Link zoom and pan".into(),
            Fit => "Fit".into(),
            OneToOne => "1:1".into(),
            ZoomIn => "Zoom in".into(),
            ZoomOut => "Zoom out".into(),
            Invert => "Invert".into(),
            RotateClockwise => "Rotate 90°".into(),
            FlipHorizontal => "Flip".into(),
            AutoWindow => "Auto window".into(),
            ToggleReference => "Reference panel".into(),
            PinReference => "Pin as reference".into(),
            Undo => "Undo".into(),
            Redo => "Redo".into(),
            WindowPreset(p) => format!("Window: {}", p.label()),
            ResetOrientation => "Reset orientation".into(),
            ToggleWorklist => "Worklist panel".into(),
            ToggleFindings => "Findings panel".into(),
            FilmsOnly => "Films only".into(),
            Quit => "Quit".into(),
            Measure(kind) => format!("Measure: {}", kind.label()),
            HeadUp => "Head up".into(),
            SecondReading => "Second reading (blind)".into(),
            FindRuler => "Find the ruler".into(),
            ContactSheet => "Contact sheet".into(),
            ColonyView => "Colony view".into(),
        }
    }

    /// Toolbar text: the label, shortened where the toolbar would otherwise wrap at 1024 px
    /// (the tooltip and the menus keep the whole label).
    pub fn short_label(self) -> String {
        match self {
            UICommand::LinkZoom => "Link".into(),
            UICommand::ToggleReference => "Reference".into(),
            UICommand::ToggleOverlay => "Saliency".into(),
            UICommand::RotateClockwise => "Rotate".into(),
            c => c.label(),
        }
    }

    /// Hover text.
    pub fn tooltip(self) -> &'static str {
        use UICommand::*;
        match self {
            OpenFolder => "Open a folder of DV and LV radiographs (any layout `mousexray scan` reads)",
            OpenModel => "Use another ONNX model that follows the mousexray model contract",
            ClassifyAll => "Run the classifier on every specimen of the folder, in the background",
            ClassifyUnscored => "Run the classifier on the specimens that have no scores from the loaded model yet",
            CancelClassify => "Stop the classification; results so far are kept",
            ImproveModel => {
                "Fine-tune the model on this folder's reviewed specimens in the background, compare old and new \
                 on a held-out fifth, and choose which to use"
            }
            Export => "Write the review (calls, status, probabilities) as CSV, a row per specimen",
            ExportLong => {
                "Write the review as IMPC's long form: a row per specimen, node and IMPC parameter, with the calls the reviewer's imply"
            }
            Settings => "Reviewer name, device, threads, thresholds, colormap, auto-advance",
            Help => "Every keyboard shortcut",
            Next => "Select the next specimen in the worklist",
            Previous => "Select the previous specimen in the worklist",
            First => "Select the first specimen in the worklist (the most abnormal, sorted by P(abnormal))",
            MarkAbnormal => "Confirm the specimen abnormal (status and the L1 call), then the next specimen",
            MarkNormal => "Call the specimen normal (status and the L1 call), then the next specimen",
            MarkUnobservable => "The skeleton cannot be judged on these images (L1 call), then the next specimen",
            SecondLook => "Ask a second reviewer to look at this specimen, then the next specimen",
            ToggleFinding(_) => "Toggle the abnormal call on this L3 finding (1 to 9, then 0)",
            FindingNormal(_) => "Toggle the normal call on this L3 finding (Shift with 1 to 9, then 0)",
            AllUnflaggedNormal => {
                "Call normal every listed specimen the model does not flag, that has scores, no film QC \
                 problem, is like the training data and is not reviewed yet (asks first; one undo)"
            }
            ToggleOverlay => "Show where the model saw evidence for the chosen class",
            LinkZoom => "Zoom and pan DV and LV together",
            Fit => "Fit both images to their panels",
            OneToOne => "One screen pixel per image pixel",
            ZoomIn => "Zoom in (or scroll over an image)",
            ZoomOut => "Zoom out (or scroll over an image)",
            Invert => "Invert the grey levels (bone dark or bright)",
            RotateClockwise => "Rotate the display 90° clockwise (the image files are never changed)",
            FlipHorizontal => "Mirror the display left to right (the image files are never changed)",
            AutoWindow => "Window and level from the 0.5th to 99.5th percentile",
            ToggleReference => "A third panel with a wild-type control of the same view (DV, LV, off)",
            PinReference => "Use the selected specimen as the reference (instead of a manifest control)",
            Undo => "Undo the last decision (all of its calls)",
            Redo => "Redo the last undone decision",
            WindowPreset(p) => p.tooltip(),
            ResetOrientation => "Show the films as stored: no rotation, no mirror",
            ToggleWorklist => "Show or hide the worklist on the left",
            ToggleFindings => "Show or hide the findings panel on the right",
            FilmsOnly => "Hide both side panels to give the films the whole window (again to bring them back)",
            Quit => "Close the window; the review and the scores are saved",
            FindRuler => {
                "Find the radiopaque ruler on this specimen's films, read its millimetre ticks and propose the \
                 folder's scale (you confirm it)"
            }
            SecondReading => {
                "Score the folder as its second reader: your calls are kept apart from the folder's review, and \
                 the first reader's calls on a specimen stay hidden until you have decided it (again: back to the \
                 folder's review)"
            }
            HeadUp => {
                "Hanging protocol: turn each film (and the reference and the thumbnails) by quarter turns so the \
                 animal's head is up, found from its shape; R and H still turn and mirror on top"
            }
            ContactSheet => {
                "Thumbnails of every listed specimen's DV and LV, in the worklist's order and filter, to clear \
                 normals fast (again: back to the films)"
            }
            ColonyView => {
                "On the contact sheet: the selected mutant's colony by sex and zygosity, each group beside its \
                 wild-type controls of the same sex, centre and strain"
            }
            Measure(kind) => match kind {
                MeasureKind::Distance => "A distance in millimetres: click both ends (a tibia: IMPC_XRY_033)",
                MeasureKind::Angle => "An angle at a vertex (the kyphosis angle): arm, vertex, arm",
                MeasureKind::Cobb => "The Cobb angle of a curve (scoliosis): two points along each end plate",
                MeasureKind::Calibration => {
                    "Set the folder's millimetres per pixel: click two ruler marks, then type their distance"
                }
                MeasureKind::Mark => "An arrow at a finding for the next reader: its tail, the spot, then the finding",
                MeasureKind::Region => {
                    "A region around a finding for the next reader: two opposite corners, then the finding"
                }
            },
        }
    }

    /// The keyboard shortcuts, the first shown in menus. Plain keys act only when no text field
    /// has focus.
    pub fn shortcuts(self) -> Vec<KeyboardShortcut> {
        use UICommand::*;
        let command = |k| KeyboardShortcut::new(Modifiers::COMMAND, k);
        match self {
            OpenFolder => vec![command(Key::O)],
            Export => vec![command(Key::E)],
            ExportLong => vec![KeyboardShortcut::new(Modifiers::COMMAND | Modifiers::SHIFT, Key::E)],
            Quit => vec![command(Key::Q)],
            Help => vec![plain(Key::Questionmark), plain(Key::F1)],
            Next => vec![plain(Key::J), plain(Key::ArrowDown), plain(Key::ArrowRight)],
            Previous => vec![plain(Key::K), plain(Key::ArrowUp), plain(Key::ArrowLeft)],
            First => vec![plain(Key::Home)],
            MarkAbnormal => vec![plain(Key::A)],
            MarkNormal => vec![plain(Key::N)],
            MarkUnobservable => vec![plain(Key::U)],
            SecondLook => vec![plain(Key::S)],
            ToggleFinding(i) => DIGITS.get(usize::from(i)).map(|&k| plain(k)).into_iter().collect(),
            FindingNormal(i) => {
                DIGITS.get(usize::from(i)).map(|&k| KeyboardShortcut::new(Modifiers::SHIFT, k)).into_iter().collect()
            }
            ToggleOverlay => vec![plain(Key::O)],
            LinkZoom => vec![plain(Key::L)],
            Fit => vec![plain(Key::F)],
            Invert => vec![plain(Key::I)],
            RotateClockwise => vec![plain(Key::R)],
            ResetOrientation => vec![KeyboardShortcut::new(Modifiers::SHIFT, Key::R)],
            FlipHorizontal => vec![plain(Key::H)],
            Undo => vec![plain(Key::Z), command(Key::Z)],
            Redo => vec![KeyboardShortcut::new(Modifiers::SHIFT, Key::Z), command(Key::Y)],
            ToggleReference => vec![plain(Key::W)],
            PinReference => vec![plain(Key::P)],
            OneToOne => vec![plain(Key::Equals)],
            ZoomIn => vec![plain(Key::Plus)],
            ZoomOut => vec![plain(Key::Minus)],
            AutoWindow => vec![plain(Key::F5)],
            WindowPreset(Preset::Auto) => vec![],
            WindowPreset(Preset::Bone) => vec![plain(Key::F6)],
            WindowPreset(Preset::SoftTissue) => vec![plain(Key::F7)],
            WindowPreset(Preset::Full) => vec![plain(Key::F8)],
            ToggleWorklist => vec![plain(Key::OpenBracket)],
            ToggleFindings => vec![plain(Key::CloseBracket)],
            FilmsOnly => vec![plain(Key::M)],
            HeadUp => vec![KeyboardShortcut::new(Modifiers::SHIFT, Key::H)],
            ContactSheet => vec![plain(Key::V)],
            ColonyView => vec![KeyboardShortcut::new(Modifiers::SHIFT, Key::V)],
            Measure(MeasureKind::Distance) => vec![plain(Key::D)],
            Measure(MeasureKind::Angle) => vec![plain(Key::G)],
            Measure(MeasureKind::Cobb) => vec![plain(Key::C)],
            Measure(MeasureKind::Mark) => vec![plain(Key::T)],
            Measure(MeasureKind::Region) => vec![KeyboardShortcut::new(Modifiers::SHIFT, Key::T)],
            Measure(MeasureKind::Calibration) => vec![],
            OpenModel | ClassifyAll | ClassifyUnscored | CancelClassify | ImproveModel | Settings
            | AllUnflaggedNormal | SecondReading | FindRuler => vec![],
        }
    }

    /// The first shortcut (the one menus show), if any.
    pub fn shortcut(self) -> Option<KeyboardShortcut> {
        self.shortcuts().into_iter().next()
    }

    /// The commands whose shortcuts were pressed this frame, once per press (two presses of J
    /// between frames move two specimens), consuming the key presses.
    pub fn from_input(ctx: &egui::Context) -> Vec<UICommand> {
        let typing = ctx.egui_wants_keyboard_input();
        let mut out = Vec::new();
        // Shortcuts with more modifiers first, so Shift+Z is not also read as Z.
        let mut pairs: Vec<(UICommand, KeyboardShortcut)> =
            UICommand::all().into_iter().flat_map(|c| c.shortcuts().into_iter().map(move |s| (c, s))).collect();
        pairs.sort_by_key(|(_, s)| std::cmp::Reverse(modifier_count(s.modifiers)));
        ctx.input_mut(|i| {
            // Shift+digit by the key's place: with Shift most layouts type a symbol ("!" for 1),
            // which is the key egui reports.
            if !typing {
                for (k, digit) in DIGITS.iter().enumerate() {
                    let mut n = 0;
                    i.events.retain(|e| {
                        let hit = matches!(e, egui::Event::Key { key, physical_key, pressed: true, modifiers, .. }
                            if modifiers.shift && !modifiers.command && (key == digit || *physical_key == Some(*digit)));
                        n += usize::from(hit);
                        !hit
                    });
                    out.extend(std::iter::repeat_n(UICommand::FindingNormal(k as u8), n));
                }
            }
            for (c, s) in pairs {
                if typing && is_plain(s) {
                    continue;
                }
                let n = i.count_and_consume_key(s.modifiers, s.logical_key);
                out.extend(std::iter::repeat_n(c, n));
            }
        });
        out
    }

    /// The first shortcut as menus show it ("Ctrl+O", "?"): the key's symbol, not its name.
    pub fn shortcut_text(self, ctx: &egui::Context) -> String {
        self.shortcut().map(|s| key_text(ctx, &s)).unwrap_or_default()
    }

    /// Every shortcut, as the help lists them ("J or Down or Right").
    pub fn shortcuts_text(self, ctx: &egui::Context) -> String {
        self.shortcuts().iter().map(|s| key_text(ctx, s)).collect::<Vec<_>>().join(" or ")
    }
}

/// A shortcut as text with the key's symbol ("?", "=", "Ctrl+Q"), not egui's key names
/// ("Questionmark", "Equals").
pub fn key_text(ctx: &egui::Context, s: &KeyboardShortcut) -> String {
    let is_mac = ctx.os() == egui::os::OperatingSystem::Mac;
    // The default fonts have no glyphs for egui's arrow symbols: name those.
    let key = match s.logical_key {
        Key::ArrowDown => "Down",
        Key::ArrowUp => "Up",
        Key::ArrowLeft => "Left",
        Key::ArrowRight => "Right",
        k => k.symbol_or_name(),
    };
    let modifiers = egui::ModifierNames::NAMES.format(&s.modifiers, is_mac);
    if modifiers.is_empty() { key.to_owned() } else { format!("{modifiers}+{key}") }
}

/// Whether a shortcut is a plain key (or Shift+key): typing in a text field must not fire it.
fn is_plain(s: KeyboardShortcut) -> bool {
    s.modifiers == Modifiers::NONE || s.modifiers == Modifiers::SHIFT
}

fn modifier_count(m: Modifiers) -> u8 {
    u8::from(m.shift) + u8::from(m.ctrl) + u8::from(m.alt) + u8::from(m.command) + u8::from(m.mac_cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortcuts_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for c in UICommand::all() {
            for s in c.shortcuts() {
                assert!(seen.insert((s.modifiers.shift, s.modifiers.command, s.logical_key)), "{c:?} reuses a key");
            }
            assert!(!c.label().is_empty() && !c.tooltip().is_empty());
        }
    }
}
