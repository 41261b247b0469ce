//! A colony beside its controls: IMPC compares each knockout line's mutants with wild-type
//! controls of the same sex from the same centre (and strain), not with each other. The review
//! window's colony view and its reference panel both take their controls from here.

use super::Specimen;

/// Whether a specimen is a wild-type control (`biological_sample_group` is `control`).
pub fn is_control(s: &Specimen) -> bool {
    s.metadata.get("biological_sample_group").is_some_and(|g| g.trim().eq_ignore_ascii_case("control"))
}

/// Whether `control` may stand beside `mutant`: the same sex, and the same centre and strain
/// where both name one (a field left blank on either side does not rule a control out).
pub fn matches(mutant: &Specimen, control: &Specimen) -> bool {
    let same = |field: &str, required: bool| match (mutant.metadata.get(field), control.metadata.get(field)) {
        (Some(a), Some(b)) => a.trim().eq_ignore_ascii_case(b.trim()),
        _ => !required,
    };
    is_control(control) && same("sex", true) && same("phenotyping_center", false) && same("strain_name", false)
}

/// One row of the colony view: the colony's mutants of one sex and zygosity from one centre,
/// then the controls that match them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColonyGroup {
    /// Sex (`unknown` when the manifest does not say).
    pub sex: String,
    /// Zygosity (`unknown` when the manifest does not say).
    pub zygosity: String,
    /// Phenotyping centre (`unknown` when the manifest does not say).
    pub centre: String,
    /// Indices into the specimens, in their given order.
    pub mutants: Vec<usize>,
    /// Indices of the matching controls, in their given order.
    pub controls: Vec<usize>,
}

/// The colony's mutants (specimens that are not controls with this `colony_id`) grouped by sex,
/// zygosity and centre (a line phenotyped at two centres is compared within each), each group
/// with its matching controls ([`matches`]). Groups come sorted by sex, zygosity, then centre;
/// an unknown colony, or one with only controls, gives none.
pub fn colony_groups(specimens: &[Specimen], colony: &str) -> Vec<ColonyGroup> {
    let field = |s: &Specimen, name: &str| {
        s.metadata.get(name).map(str::trim).filter(|v| !v.is_empty()).unwrap_or("unknown").to_lowercase()
    };
    let mut groups: std::collections::BTreeMap<(String, String, String), Vec<usize>> = Default::default();
    for (i, s) in specimens.iter().enumerate() {
        if s.metadata.get("colony_id").is_some_and(|c| c.trim() == colony.trim()) && !is_control(s) {
            // The centre as the manifest writes it: it is a name, shown as such.
            let centre = s.metadata.get("phenotyping_center").map(str::trim).filter(|v| !v.is_empty());
            let key = (field(s, "sex"), field(s, "zygosity"), centre.unwrap_or("unknown").to_owned());
            groups.entry(key).or_default().push(i);
        }
    }
    groups
        .into_iter()
        .map(|((sex, zygosity, centre), mutants)| {
            let controls = match mutants.first().and_then(|&m| specimens.get(m)) {
                Some(m) => specimens.iter().enumerate().filter(|(_, c)| matches(m, c)).map(|(i, _)| i).collect(),
                None => Vec::new(),
            };
            ColonyGroup { sex, zygosity, centre, mutants, controls }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::specimen::Metadata;

    fn specimen(id: &str, fields: &[(&str, &str)]) -> Specimen {
        let mut metadata = Metadata::default();
        for (k, v) in fields {
            metadata.set(k, v);
        }
        Specimen { id: id.into(), images: Default::default(), metadata, layout: crate::specimen::Layout::Subfolders }
    }

    #[test]
    fn mutants_are_grouped_by_sex_and_zygosity_beside_same_sex_controls_of_their_centre() {
        let mut_ = |id, sex, zyg, centre| {
            specimen(
                id,
                &[
                    ("colony_id", "PHX1"),
                    ("sex", sex),
                    ("zygosity", zyg),
                    ("phenotyping_center", centre),
                    ("biological_sample_group", "experimental"),
                ],
            )
        };
        let control = |id, sex, centre| {
            specimen(
                id,
                &[
                    ("colony_id", "baseline"),
                    ("sex", sex),
                    ("phenotyping_center", centre),
                    ("biological_sample_group", "Control"),
                ],
            )
        };
        let specimens = vec![
            mut_("m1", "male", "homozygote", "North"),
            control("c1", "female", "North"),
            mut_("m2", "female", "heterozygote", "North"),
            control("c2", "male", "North"),
            control("c3", "male", "South"),
            mut_("m3", "male", "homozygote", "North"),
            specimen("other", &[("colony_id", "VRT2"), ("sex", "male")]),
            control("c4", "male", ""),
            mut_("m4", "male", "homozygote", "South"),
        ];
        let groups = colony_groups(&specimens, "PHX1");
        assert_eq!(
            groups,
            vec![
                ColonyGroup {
                    sex: "female".into(),
                    zygosity: "heterozygote".into(),
                    centre: "North".into(),
                    mutants: vec![2],
                    controls: vec![1]
                },
                // c3 is from another centre; c4 names none, so it may stand beside them.
                ColonyGroup {
                    sex: "male".into(),
                    zygosity: "homozygote".into(),
                    centre: "North".into(),
                    mutants: vec![0, 5],
                    controls: vec![3, 7]
                },
                // The same line at another centre is compared with that centre's controls.
                ColonyGroup {
                    sex: "male".into(),
                    zygosity: "homozygote".into(),
                    centre: "South".into(),
                    mutants: vec![8],
                    controls: vec![4, 7]
                },
            ]
        );
        assert!(colony_groups(&specimens, "baseline").is_empty(), "controls alone are no colony");
        assert!(colony_groups(&specimens, "nope").is_empty());
        // Without a sex on the mutant no control matches: a wrong-sex control misleads more than none.
        let unsexed = vec![specimen("m", &[("colony_id", "X")]), control("c", "male", "North")];
        assert_eq!(colony_groups(&unsexed, "X")[0].controls, Vec::<usize>::new());
    }
}
