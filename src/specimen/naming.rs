//! Telling specimen and view from a file's path relative to the scanned folder.

use std::path::{Component, Path};

use super::Layout;
use super::view::{View, find_view, is_separator};

/// What a file's path says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameParse {
    /// The path names both the specimen and the view.
    Known {
        /// Specimen id.
        id: String,
        /// View.
        view: View,
        /// Which naming rule applied.
        layout: Layout,
    },
    /// The file sits in an IMPC parameter folder: the view is known, the specimen must come from
    /// the manifest (IMPC files are named by media id).
    ImpcMedia {
        /// View from the parameter folder.
        view: View,
        /// The file stem (the media id).
        media_id: String,
    },
    /// No single view could be told.
    UnknownView {
        /// Why.
        reason: String,
    },
}

/// Parses a path relative to the scanned root. See the README's "Folder layouts". Names that are
/// not UTF-8 are escaped ([`super::escape_name`]), so two different names never give one id.
///
/// - parent folder an IMPC parameter (`IMPC_XRY_034_001`): [`NameParse::ImpcMedia`];
/// - stem only a view (`M12/dv.png`): the parent folder is the specimen ([`Layout::Subfolders`]);
/// - view tokens plus other tokens (`M12_lateral.tif`): the rest of the stem is the id
///   ([`Layout::Flat`]), or the parent folder when the rest repeats it (`M12/M12_dv.png`);
/// - no view token but a view-named parent folder (`DV/M12.png`): [`Layout::ViewFolders`].
pub fn parse_file_name(rel: &Path) -> NameParse {
    let names: Vec<String> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(super::escape_name(s)),
            _ => None,
        })
        .collect();
    let Some((file, dirs)) = names.split_last() else {
        return NameParse::UnknownView { reason: "empty path".into() };
    };
    let parent = dirs.last().map(String::as_str);
    // An all-digit "extension" is part of a UID-style name (`1.2.840.113619.2.55`), not a type.
    let stem = match file.rsplit_once('.') {
        Some((s, ext)) if !s.is_empty() && !ext.bytes().all(|b| b.is_ascii_digit()) => s,
        _ => file.as_str(),
    };

    if let Some(view) = parent.and_then(View::from_parameter) {
        return NameParse::ImpcMedia { view, media_id: stem.to_owned() };
    }

    let spans = token_spans(stem);
    let lower: Vec<String> = spans.iter().map(|&(a, b)| stem[a..b].to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    let views_named = lower.iter().filter(|t| View::parse(t).is_some()).count();

    match find_view(&lower) {
        Some((view, used)) => {
            let rest = join_kept(stem, &spans, &used);
            match (rest.is_empty(), parent) {
                (true, Some(p)) => NameParse::Known { id: p.to_owned(), view, layout: Layout::Subfolders },
                (true, None) => NameParse::UnknownView {
                    reason: format!(
                        "`{file}` names only a view; put it in a folder named after the specimen, or add the id to the name"
                    ),
                },
                (false, Some(p)) if rest.eq_ignore_ascii_case(p) => {
                    NameParse::Known { id: p.to_owned(), view, layout: Layout::Subfolders }
                }
                (false, _) => NameParse::Known { id: rest, view, layout: Layout::Flat },
            }
        }
        None if views_named > 1 => NameParse::UnknownView { reason: format!("`{file}` names more than one view") },
        None => match parent.and_then(View::parse) {
            Some(view) => NameParse::Known { id: stem.to_owned(), view, layout: Layout::ViewFolders },
            None => NameParse::UnknownView {
                reason: format!(
                    "no view token (dv, dorsoventral, 034, lv, lateral, 048, ...) in `{file}` or its folder, and no manifest row for it"
                ),
            },
        },
    }
}

/// Byte spans of the tokens of `s`.
fn token_spans(s: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = None;
    for (i, c) in s.char_indices() {
        match (is_separator(c), start) {
            (true, Some(a)) => {
                spans.push((a, i));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(a) = start {
        spans.push((a, s.len()));
    }
    spans
}

/// Joins the tokens not in `used`, each with the separator run that preceded it in `s`.
fn join_kept(s: &str, spans: &[(usize, usize)], used: &[usize]) -> String {
    let mut out = String::new();
    let mut previous_end = 0;
    for (i, &(a, b)) in spans.iter().enumerate() {
        if !used.contains(&i) {
            if !out.is_empty() {
                out.push_str(&s[previous_end..a]);
            }
            out.push_str(&s[a..b]);
        }
        previous_end = b;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(p: &str) -> (String, View, Layout) {
        match parse_file_name(Path::new(p)) {
            NameParse::Known { id, view, layout } => (id, view, layout),
            other => panic!("{p}: {other:?}"),
        }
    }

    #[test]
    fn subfolder_layout() {
        assert_eq!(known("M12/DV.png"), ("M12".into(), View::Dv, Layout::Subfolders));
        assert_eq!(known("batch/M12/lateral.dcm"), ("M12".into(), View::Lv, Layout::Subfolders));
        assert_eq!(known("M12/skull_dv.png"), ("M12".into(), View::SkullDv, Layout::Subfolders));
        assert_eq!(known("M12/m12_lv.png"), ("M12".into(), View::Lv, Layout::Subfolders));
    }

    #[test]
    fn flat_layout_is_token_bounded_and_case_insensitive() {
        assert_eq!(known("M12_DV.png"), ("M12".into(), View::Dv, Layout::Flat));
        assert_eq!(known("mouse 7 - Lateral.tif"), ("mouse 7".into(), View::Lv, Layout::Flat));
        assert_eq!(known("abc_dv_01.png"), ("abc_01".into(), View::Dv, Layout::Flat));
        assert_eq!(known("HRWL-048-5078006.jpg"), ("HRWL-5078006".into(), View::Lv, Layout::Flat));
        assert_eq!(known("x/M9.skull.lv.bmp"), ("M9".into(), View::SkullLv, Layout::Flat));
        // `dvorak` and `latte` contain view letters but are not view tokens.
        assert!(matches!(parse_file_name(Path::new("dvorak_latte.png")), NameParse::UnknownView { .. }));
    }

    #[test]
    fn view_folders_and_impc_tree() {
        assert_eq!(known("DV/M3.png"), ("M3".into(), View::Dv, Layout::ViewFolders));
        assert_eq!(
            parse_file_name(Path::new("MRC Harwell/HRWL_001/IMPC_XRY_001/IMPC_XRY_034_001/114182.dcm")),
            NameParse::ImpcMedia { view: View::Dv, media_id: "114182".into() }
        );
    }

    #[test]
    fn uid_names_keep_their_last_number() {
        assert_eq!(known("DV/1.2.840.113619.2.55"), ("1.2.840.113619.2.55".into(), View::Dv, Layout::ViewFolders));
        assert_eq!(known("DV/1.2.840.113619.2.56"), ("1.2.840.113619.2.56".into(), View::Dv, Layout::ViewFolders));
        assert_eq!(known("DV/M3.dcm"), ("M3".into(), View::Dv, Layout::ViewFolders));
    }

    #[test]
    fn ambiguous_or_bare_names_are_unknown() {
        for p in ["M1_dv_lv.png", "dv.png", "scan.png"] {
            assert!(matches!(parse_file_name(Path::new(p)), NameParse::UnknownView { .. }), "{p}");
        }
    }
}
