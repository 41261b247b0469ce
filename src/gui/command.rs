//! Every user action as one [`UICommand`]: its label, tooltip and keyboard shortcut. Menus,
//! buttons and keys all send commands; [`crate::gui::ReviewApp::execute`] runs them.

use egui::{Key, KeyboardShortcut, Modifiers};

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
    /// Write the review as CSV.
    Export,
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
            Export,
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
        ];
        v.extend((0..10).map(ToggleFinding));
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
            Export => "Export CSV…".into(),
            Settings => "Settings…".into(),
            Help => "Keyboard shortcuts".into(),
            Next => "Next specimen".into(),
            Previous => "Previous specimen".into(),
            First => "First specimen".into(),
            MarkAbnormal => "Abnormal".into(),
            MarkNormal => "Normal".into(),
            MarkUnobservable => "Unobservable".into(),
            SecondLook => "Second look".into(),
            ToggleFinding(i) => format!("Toggle finding {}", u32::from(i) + 1),
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
        }
    }

    /// Hover text.
    pub fn tooltip(self) -> &'static str {
        use UICommand::*;
        match self {
            OpenFolder => "Open a folder of DV and LV radiographs (any layout `mousexray scan` reads)",
            OpenModel => "Use another ONNX model that follows the mousexray model contract",
            ClassifyAll => "Run the classifier on every specimen of the folder, in the background",
            ClassifyUnscored => "Run the classifier on the specimens that have no scores yet",
            CancelClassify => "Stop the classification; results so far are kept",
            Export => "Write the review (calls, status, probabilities) as CSV",
            Settings => "Reviewer name, device, threads, thresholds, colormap, auto-advance",
            Help => "Every keyboard shortcut",
            Next => "Select the next specimen in the worklist",
            Previous => "Select the previous specimen in the worklist",
            First => "Select the first specimen in the worklist (the most abnormal, sorted by P(abnormal))",
            MarkAbnormal => "Confirm the specimen abnormal (status and the L1 call)",
            MarkNormal => "Call the specimen normal (status and the L1 call)",
            MarkUnobservable => "The skeleton cannot be judged on these images (L1 call)",
            SecondLook => "Ask a second reviewer to look at this specimen",
            ToggleFinding(_) => "Toggle the abnormal call on this L3 finding (1 to 9, then 0)",
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
            Undo => "Undo the last review edit",
            Redo => "Redo the last undone edit",
        }
    }

    /// The keyboard shortcut, if any. Plain keys act only when no text field has focus.
    pub fn shortcut(self) -> Option<KeyboardShortcut> {
        use UICommand::*;
        Some(match self {
            OpenFolder => KeyboardShortcut::new(Modifiers::COMMAND, Key::O),
            Export => KeyboardShortcut::new(Modifiers::COMMAND, Key::E),
            Help => plain(Key::Questionmark),
            Next => plain(Key::J),
            Previous => plain(Key::K),
            First => plain(Key::Home),
            MarkAbnormal => plain(Key::A),
            MarkNormal => plain(Key::N),
            MarkUnobservable => plain(Key::U),
            SecondLook => plain(Key::S),
            ToggleFinding(i) => plain(*DIGITS.get(usize::from(i))?),
            ToggleOverlay => plain(Key::O),
            LinkZoom => plain(Key::L),
            Fit => plain(Key::F),
            Invert => plain(Key::I),
            RotateClockwise => plain(Key::R),
            FlipHorizontal => plain(Key::H),
            Undo => plain(Key::Z),
            ToggleReference => plain(Key::W),
            PinReference => plain(Key::P),
            Redo => KeyboardShortcut::new(Modifiers::SHIFT, Key::Z),
            OneToOne => plain(Key::Equals),
            ZoomIn => plain(Key::Plus),
            ZoomOut => plain(Key::Minus),
            OpenModel | ClassifyAll | ClassifyUnscored | CancelClassify | Settings | AutoWindow => return None,
        })
    }

    /// Extra keys that do the same (arrows for next and previous).
    pub fn alternative_keys(self) -> &'static [Key] {
        match self {
            UICommand::Next => &[Key::ArrowDown, Key::ArrowRight],
            UICommand::Previous => &[Key::ArrowUp, Key::ArrowLeft],
            _ => &[],
        }
    }

    /// Whether the shortcut is a plain key (which must not fire while typing).
    pub fn is_plain_key(self) -> bool {
        self.shortcut().is_none_or(|s| s.modifiers == Modifiers::NONE || s.modifiers == Modifiers::SHIFT)
    }

    /// The command whose shortcut was pressed this frame, consuming the key press.
    pub fn from_input(ctx: &egui::Context) -> Vec<UICommand> {
        let typing = ctx.egui_wants_keyboard_input();
        let mut out = Vec::new();
        // Shortcuts with more modifiers first, so Shift+Z is not also read as Z.
        let mut commands = UICommand::all();
        commands.sort_by_key(|c| std::cmp::Reverse(c.shortcut().map_or(0, |s| modifier_count(s.modifiers))));
        ctx.input_mut(|i| {
            for c in commands {
                if typing && c.is_plain_key() {
                    continue;
                }
                if let Some(s) = c.shortcut()
                    && i.consume_shortcut(&s)
                {
                    out.push(c);
                    continue;
                }
                for &k in c.alternative_keys() {
                    if i.consume_key(Modifiers::NONE, k) {
                        out.push(c);
                    }
                }
            }
        });
        out
    }

    /// The shortcut as text for menus and help ("Ctrl+O", "J").
    pub fn shortcut_text(self, ctx: &egui::Context) -> String {
        self.shortcut().map(|s| ctx.format_shortcut(&s)).unwrap_or_default()
    }
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
            if let Some(s) = c.shortcut() {
                assert!(seen.insert((s.modifiers.shift, s.modifiers.command, s.logical_key)), "{c:?} reuses a key");
            }
            assert!(!c.label().is_empty() && !c.tooltip().is_empty());
        }
    }
}
