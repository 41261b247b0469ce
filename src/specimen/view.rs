//! X-ray views and the tokens that name them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One X-ray view of a specimen. DV and LV feed the classifier; the others are kept for display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum View {
    /// Whole body, dorsoventral (IMPC_XRY_034_001).
    Dv,
    /// Whole body, lateral (IMPC_XRY_048_001).
    Lv,
    /// Skull, dorsoventral (IMPC_XRY_051_001).
    SkullDv,
    /// Skull, lateral (IMPC_XRY_050_001).
    SkullLv,
    /// Forepaw (IMPC_XRY_049_001).
    Forepaw,
    /// Hind leg and hip (IMPC_XRY_052_001).
    HindLeg,
}

impl View {
    /// Every view, model views first.
    pub const ALL: [View; 6] = [View::Dv, View::Lv, View::SkullDv, View::SkullLv, View::Forepaw, View::HindLeg];

    /// The classifier's views, DV first: the order of the model's inputs and of [`super::ByView::into_array`].
    pub const MODEL: [View; 2] = [View::Dv, View::Lv];

    /// Whether the classifier uses this view.
    pub fn is_model_view(self) -> bool {
        matches!(self, View::Dv | View::Lv)
    }

    /// This view's place in [`View::MODEL`] (0 DV, 1 LV), `None` for the other views.
    pub fn model_slot(self) -> Option<usize> {
        View::MODEL.iter().position(|v| *v == self)
    }

    /// Short name, as used in manifests and file names (`dv`, `lv`, `skull_dv`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            View::Dv => "dv",
            View::Lv => "lv",
            View::SkullDv => "skull_dv",
            View::SkullLv => "skull_lv",
            View::Forepaw => "forepaw",
            View::HindLeg => "hind_leg",
        }
    }

    /// The IMPC parameter stable id of this image parameter.
    pub fn impc_parameter(self) -> &'static str {
        match self {
            View::Dv => "IMPC_XRY_034_001",
            View::Lv => "IMPC_XRY_048_001",
            View::SkullDv => "IMPC_XRY_051_001",
            View::SkullLv => "IMPC_XRY_050_001",
            View::Forepaw => "IMPC_XRY_049_001",
            View::HindLeg => "IMPC_XRY_052_001",
        }
    }

    /// The view for an IMPC parameter number (`034`, `048`, ...).
    fn from_parameter_number(n: &str) -> Option<View> {
        Some(match n {
            "034" => View::Dv,
            "048" => View::Lv,
            "049" => View::Forepaw,
            "050" => View::SkullLv,
            "051" => View::SkullDv,
            "052" => View::HindLeg,
            _ => return None,
        })
    }

    /// The view for an IMPC parameter stable id. Matches on the `_XRY_0NN_` stem, so later
    /// procedure versions (IMPC_XRY_003, MGP_XRY_001, ...) are recognised too.
    pub fn from_parameter(stable_id: &str) -> Option<View> {
        let upper = stable_id.trim().to_ascii_uppercase();
        let parts: Vec<&str> = upper.split('_').collect();
        let pos = parts.iter().position(|p| *p == "XRY")?;
        if parts.len() != pos + 3 || pos == 0 {
            return None;
        }
        View::from_parameter_number(parts.get(pos + 1)?)
    }

    /// Parses a view name as a user would write it: `dv`, `DV`, `dorsoventral`, `lateral`,
    /// `skull_dv`, `034`, `IMPC_XRY_048_001`, ...
    pub fn parse(s: &str) -> Option<View> {
        if let Some(v) = View::from_parameter(s) {
            return Some(v);
        }
        let tokens: Vec<String> = split_tokens(s).map(|t| t.to_ascii_lowercase()).collect();
        let tokens: Vec<&str> = tokens.iter().map(String::as_str).collect();
        match find_view(&tokens) {
            Some((view, used)) if used.len() == tokens.len() => Some(view),
            _ => None,
        }
    }
}

impl fmt::Display for View {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            View::Dv => "DV",
            View::Lv => "LV",
            View::SkullDv => "skull DV",
            View::SkullLv => "skull LV",
            View::Forepaw => "forepaw",
            View::HindLeg => "hind leg",
        })
    }
}

/// Characters that separate tokens in file names.
pub(crate) fn is_separator(c: char) -> bool {
    matches!(c, '_' | '-' | '.' | ' ' | '+' | ',' | '(' | ')' | '[' | ']')
}

/// Splits a name into its non-empty tokens.
pub(crate) fn split_tokens(s: &str) -> impl Iterator<Item = &str> {
    s.split(is_separator).filter(|t| !t.is_empty())
}

fn dv_token(t: &str) -> bool {
    matches!(t, "dv" | "vd" | "dorso" | "dorsoventral" | "ventrodorsal" | "034")
}

fn lv_token(t: &str) -> bool {
    matches!(t, "lv" | "lat" | "lateral" | "048")
}

/// Finds the one view named by lower-case tokens; returns it with the indices of the tokens that
/// named it. `None` when no view, or more than one, is named.
pub(crate) fn find_view(tokens: &[&str]) -> Option<(View, Vec<usize>)> {
    let mut found: Vec<(View, Vec<usize>)> = Vec::new();
    let mut used = vec![false; tokens.len()];
    let mut i = 0;
    while i < tokens.len() {
        let t = tokens[i];
        let next = tokens.get(i + 1).copied();
        // Two-token names first: "skull dv", "hind leg", "fore paw".
        let pair = match (t, next) {
            ("skull", Some(n)) if dv_token(n) => Some(View::SkullDv),
            ("skull", Some(n)) if lv_token(n) => Some(View::SkullLv),
            ("hind", Some("leg" | "limb")) => Some(View::HindLeg),
            ("fore", Some("paw")) => Some(View::Forepaw),
            _ => None,
        };
        if let Some(v) = pair {
            found.push((v, vec![i, i + 1]));
            used[i] = true;
            used[i + 1] = true;
            i += 2;
            continue;
        }
        let single = match t {
            t if dv_token(t) => Some(View::Dv),
            t if lv_token(t) => Some(View::Lv),
            "skulldv" | "051" => Some(View::SkullDv),
            "skulllv" | "050" => Some(View::SkullLv),
            "forepaw" | "paw" | "049" => Some(View::Forepaw),
            "hindleg" | "hindlimb" | "052" => Some(View::HindLeg),
            _ => None,
        };
        if let Some(v) = single {
            found.push((v, vec![i]));
            used[i] = true;
        }
        i += 1;
    }
    match found.as_slice() {
        [(v, idx)] => Some((*v, idx.clone())),
        // The same view named twice (`M1_dv_DV`) is still one view.
        [(v, _), rest @ ..] if rest.iter().all(|(w, _)| w == v) => {
            Some((*v, found.iter().flat_map(|(_, i)| i.iter().copied()).collect()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_parameters() {
        assert_eq!(View::parse("DV"), Some(View::Dv));
        assert_eq!(View::parse("Dorsoventral"), Some(View::Dv));
        assert_eq!(View::parse("lateral"), Some(View::Lv));
        assert_eq!(View::parse("skull_dv"), Some(View::SkullDv));
        assert_eq!(View::parse("Skull LV"), Some(View::SkullLv));
        assert_eq!(View::parse("hind_leg"), Some(View::HindLeg));
        assert_eq!(View::parse("IMPC_XRY_034_001"), Some(View::Dv));
        assert_eq!(View::parse("MGP_XRY_048_001"), Some(View::Lv));
        assert_eq!(View::parse("IMPC_XRY_056_001"), None);
        assert_eq!(View::parse("dv lv"), None);
        assert_eq!(View::parse("david"), None);
        for v in View::ALL {
            assert_eq!(View::parse(v.as_str()), Some(v));
            assert_eq!(View::from_parameter(v.impc_parameter()), Some(v));
        }
    }
}
