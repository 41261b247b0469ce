//! Film QC: whether a view shows one whole mouse in the view it is filed under, from what
//! preprocessing measured of the film. Image measures, not a model: they cost nothing beyond
//! preprocessing, and they do not share the classifier's blind spots.
//!
//! The IMPC's own view QC is a VGG16 over seven view classes at 224 px; these measures are far
//! cheaper, and a specimen's two views are also compared with each other, which catches a DV and
//! an LV filed the wrong way round.

use serde::{Deserialize, Serialize};

use super::ModelInput;
use super::preprocess::box_reduce;
use crate::specimen::{ByView, View};

/// What preprocessing measured of one film.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FilmMeasures {
    /// The animal's bulk (cells of the analysis grid solidly inside it) over the exposed film's
    /// cells; 0 when no animal was found.
    pub bulk_share: f64,
    /// How much of the film's variation is coarser than eight analysis cells (0..=1): an empty
    /// film's noise has almost none.
    pub structure: f64,
    /// The largest bulk of any other region over the animal's: a second animal has as much
    /// bulk as the first, a ruler or text none.
    pub other_bulk_ratio: f64,
    /// The animal's cells along the exposed film's edge, per cell of its longer side: a
    /// close-up cuts through the body broadly; a whole animal's tail or paw touches in a few
    /// cells, if at all.
    pub edge_contact: f64,
    /// Separate stretches of the animal crossing the film's edge: a whole animal's tail or a
    /// paw may make one; a close-up cuts several limbs or the body.
    pub edge_crossings: usize,
    /// The same for the animal's core (the trunk's skeleton and dense tissue), which a whole
    /// animal keeps off the edge and a close-up cuts.
    pub core_edge_contact: f64,
    /// The trunk's long axis over its short one (standard deviations).
    pub elongation: f64,
    /// Left-right mirror symmetry of the model input about the animal's long axis (the best
    /// correlation over small shifts, -1..=1): a DV is nearly its own mirror image, an LV is
    /// not (back on one side, limbs on the other).
    pub symmetry: f64,
    /// Where the spine runs across the trunk: its distance from the trunk's midline over the
    /// trunk's half-width (0..=1, from [`spine_offset`]). A DV's spine runs down the middle
    /// however the body is curved or plump; an LV's lies near the back.
    #[serde(default)]
    pub spine_offset: f64,
}

/// A film QC finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QcCode {
    /// Nothing on the film looks like an animal (an empty or failed exposure).
    NoAnimal,
    /// A close-up (skull, paw, hind quarters, or any crop of the body), not a whole body.
    NotWholeBody,
    /// More than one animal: the largest is scored.
    MultipleAnimals,
    /// The film looks like the other view (a DV filed as LV or the reverse).
    ViewSwapped,
}

impl QcCode {
    /// Every code, in report order.
    pub const ALL: [QcCode; 4] = [QcCode::NoAnimal, QcCode::NotWholeBody, QcCode::MultipleAnimals, QcCode::ViewSwapped];

    /// The code as written in CSVs and shown in the window.
    pub fn as_str(self) -> &'static str {
        match self {
            QcCode::NoAnimal => "no_animal",
            QcCode::NotWholeBody => "not_whole_body",
            QcCode::MultipleAnimals => "multiple_animals",
            QcCode::ViewSwapped => "view_swapped",
        }
    }

    /// Parses [`QcCode::as_str`].
    pub fn parse(s: &str) -> Option<QcCode> {
        QcCode::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Whether the view is left out of scoring: the classifier learned whole animals in their
    /// own view, so a close-up, an empty film or the other view would be scored as something it
    /// is not. A film with more than one animal is scored on the largest, and flagged.
    pub fn excludes_view(self) -> bool {
        !matches!(self, QcCode::MultipleAnimals)
    }

    /// Its place in [`QcCode::ALL`] (for counts kept as `[usize; 4]`).
    pub fn index(self) -> usize {
        QcCode::ALL.iter().position(|&c| c == self).unwrap_or(0)
    }

    /// The finding on `view`, as problem files and reports word it:
    /// `not_whole_body (dv): a close-up or a crop, not a whole body`.
    pub fn finding(self, view: View) -> String {
        format!("{} ({}): {}", self.as_str(), view.as_str(), self.explain())
    }

    /// One line for a person.
    pub fn explain(self) -> &'static str {
        match self {
            QcCode::NoAnimal => "no animal found on the film",
            QcCode::NotWholeBody => "a close-up or a crop, not a whole body",
            QcCode::MultipleAnimals => "more than one animal on the film; the largest was scored",
            QcCode::ViewSwapped => "looks like the other view (filed under the wrong view parameter?)",
        }
    }
}

/// The thresholds, chosen on 300 phantoms of seed 3000 (used for nothing else), checked against
/// the six real films of the project's reference set, and measured on the held-out set
/// (`mousexray eval --film-qc`; BENCHMARKS.md). Limits on the animal's size and shape alone
/// caught more phantom close-ups but called real whole-body films close-ups (a real mouse is
/// plumper and fills more of its film than a phantom), so a close-up is judged above all by a
/// body or trunk cut at the film's edge, or by two or more limbs, a tail or the body crossing
/// it (a whole animal's tail or paw may cross once). The spine-offset limit was chosen on 300
/// varied phantoms of seed 3000 (`synth --vary-animal --vary-film`), where a curved DV placement
/// and a plump LV had made symmetry alone call one film in three the other view, and looked at
/// on 300 style-b phantoms and the real films: real DVs put the spine off the midline more
/// often, which is why a film is called the other view only when both measures say so.
mod limits {
    /// Below this structure the film is noise.
    pub const MIN_STRUCTURE: f64 = 0.4;
    /// Below this bulk share there is no animal.
    pub const MIN_BULK_SHARE: f64 = 0.004;
    /// A second region apart from the animal with this share of its bulk is a second animal
    /// (one at half the first's length has about a fifth of its bulk).
    pub const OTHER_BULK_RATIO: f64 = 0.1;
    /// A film at least this symmetric is judged as a DV (below: as an LV).
    pub const DV_SYMMETRY: f64 = 0.88;
    /// A spine at most this far off the trunk's midline is a DV's (beyond: an LV's).
    pub const DV_SPINE_OFFSET: f64 = 0.3;
    /// Edge contact beyond this is a cut body: DV, LV (a lateral body is narrower).
    pub const MAX_EDGE_CONTACT: [f64; 2] = [0.15, 0.07];
    /// A whole animal crosses the film's edge in at most this many stretches (its tail or a
    /// paw); more are a crop.
    pub const MAX_EDGE_CROSSINGS: usize = 1;
    /// Core edge contact beyond this is a cut trunk.
    pub const MAX_CORE_EDGE_CONTACT: f64 = 0.06;
    /// A body with more bulk than this share of the film is a close-up.
    pub const MAX_BULK_SHARE: f64 = 0.26;
    /// A trunk rounder than this is a part of a body (2.0 until plump varied phantoms, 1.7-2.0
    /// in DV, were called close-ups; 1.7 catches as many close-ups).
    pub const MIN_ELONGATION: f64 = 1.7;
    /// When both films of a pair look like one view, the film in the matching slot is also
    /// called wrong only if the other is this much more typical of that view.
    pub const PAIR_MARGIN: f64 = 0.05;
    /// Within this, two films are equally typical of a view (the same film filed twice, or
    /// another animal's).
    pub const PAIR_NEAR: f64 = 0.03;
    /// [`PAIR_MARGIN`] and [`PAIR_NEAR`] for the spine's offset.
    pub const PAIR_OFFSET_MARGIN: f64 = 0.15;
    /// See [`PAIR_OFFSET_MARGIN`].
    pub const PAIR_OFFSET_NEAR: f64 = 0.05;
    /// When the measures disagree on either film, the pair is swapped if the DV slot's spine
    /// lies this much further off its trunk's midline than the LV slot's (phantoms differ by
    /// about 0.45, the real pairs filed right by -0.40 and +0.15).
    pub const PAIR_OFFSET_SWAP: f64 = 0.2;
}

impl FilmMeasures {
    /// Whether the film looks like a DV (nearly its own mirror image): which edge-contact limit
    /// applies.
    pub fn looks_dv(&self) -> bool {
        self.symmetry >= limits::DV_SYMMETRY
    }

    /// The view the film shows when its symmetry and its spine's place agree; `None` when they
    /// disagree (a curved DV is less symmetric, a plump LV more; neither moves the spine).
    pub fn shows(&self) -> Option<View> {
        let spine_dv = self.spine_offset <= limits::DV_SPINE_OFFSET;
        match (self.looks_dv(), spine_dv) {
            (true, true) => Some(View::Dv),
            (false, false) => Some(View::Lv),
            _ => None,
        }
    }

    /// Whether this film is more DV-like than `other` by both measures, by the margins given.
    fn more_dv_than(&self, other: &FilmMeasures, symmetry: f64, offset: f64) -> bool {
        self.symmetry > other.symmetry + symmetry && self.spine_offset + offset < other.spine_offset
    }

    /// Whether this film is more DV-like than `other` by either measure, by the margins given:
    /// enough to keep a film in its DV slot (a scoliotic DV is less symmetric and its spine
    /// leaves the midline, yet it stays more DV-like than its LV by one of the two).
    fn more_dv_by_either(&self, other: &FilmMeasures, symmetry: f64, offset: f64) -> bool {
        self.symmetry > other.symmetry + symmetry || self.spine_offset + offset < other.spine_offset
    }

    /// The codes for this film on its own, as filed under `view`: `view_swapped` when it looks
    /// like the other view (see [`specimen_qc`], which compares the two views of a specimen
    /// instead when it has both).
    pub fn codes(&self, view: View) -> Vec<QcCode> {
        use limits::*;
        if self.structure < MIN_STRUCTURE || self.bulk_share < MIN_BULK_SHARE {
            return vec![QcCode::NoAnimal];
        }
        let mut codes = Vec::new();
        let k = usize::from(!self.looks_dv());
        if self.edge_contact > MAX_EDGE_CONTACT[k]
            || self.edge_crossings > MAX_EDGE_CROSSINGS
            || self.core_edge_contact > MAX_CORE_EDGE_CONTACT
            || self.bulk_share > MAX_BULK_SHARE
            || self.elongation < MIN_ELONGATION
        {
            codes.push(QcCode::NotWholeBody);
        }
        if self.other_bulk_ratio >= OTHER_BULK_RATIO {
            codes.push(QcCode::MultipleAnimals);
        }
        if codes.is_empty() && self.shows().is_some_and(|v| v != view) {
            codes.push(QcCode::ViewSwapped);
        }
        codes
    }
}

/// A specimen's codes as `(view, code)` pairs, DV's first.
pub fn findings(qc: &ByView<Vec<QcCode>>) -> impl Iterator<Item = (View, QcCode)> + '_ {
    qc.iter().flat_map(|(v, codes)| codes.iter().map(move |&c| (v, c)))
}

/// Counts of views by code ([`QcCode::ALL`] order) as a report says them
/// (`3 not_whole_body, 1 view_swapped`); `None` when every count is 0.
pub fn summary(counts: &[usize; 4]) -> Option<String> {
    let found: Vec<String> =
        QcCode::ALL.iter().zip(counts).filter(|(_, n)| **n > 0).map(|(c, n)| format!("{n} {}", c.as_str())).collect();
    (!found.is_empty()).then(|| found.join(", "))
}

/// QC codes for a specimen's DV and LV (either may be absent): each film's own codes, then,
/// when both show a whole animal, the pair judged together. Each film is judged to show a DV, an
/// LV or either ([`FilmMeasures::shows`]):
/// - each shows the other view: swapped, flagged on both;
/// - both show one view: the slot of the other view holds the wrong film (the same film filed
///   twice, another animal's view) unless its film is clearly the more typical of the view it
///   is filed under by both measures (an unusual exposure); the other slot too when its film
///   is clearly the less typical of its own view (a swap with one unusual film);
/// - where the measures disagree on a film: swapped when the DV slot's spine lies clearly
///   further off its trunk's midline than the LV slot's;
/// - otherwise a film's own call stands only when its partner is no more typical of the film's
///   slot by either measure.
pub fn specimen_qc(dv: Option<&FilmMeasures>, lv: Option<&FilmMeasures>) -> ByView<Vec<QcCode>> {
    let mut codes = ByView::new(
        dv.map(|m| m.codes(View::Dv)).unwrap_or_default(),
        lv.map(|m| m.codes(View::Lv)).unwrap_or_default(),
    );
    let (Some(d), Some(l)) = (dv, lv) else { return codes };
    if !codes.iter().all(|(_, c)| c.iter().all(|&c| c == QcCode::ViewSwapped)) {
        return codes;
    }
    use limits::{
        PAIR_MARGIN as MARGIN, PAIR_NEAR as NEAR, PAIR_OFFSET_MARGIN as OFF_MARGIN, PAIR_OFFSET_NEAR as OFF_NEAR,
    };
    let wrong = match (d.shows(), l.shows()) {
        (Some(View::Lv), Some(View::Dv)) => ByView::new(true, true),
        (Some(View::Dv), Some(View::Dv)) => {
            ByView::new(l.more_dv_than(d, MARGIN, OFF_MARGIN), !d.more_dv_by_either(l, NEAR, OFF_NEAR))
        }
        (Some(View::Lv), Some(View::Lv)) => {
            ByView::new(!d.more_dv_by_either(l, NEAR, OFF_NEAR), l.more_dv_than(d, MARGIN, OFF_MARGIN))
        }
        // Where the measures disagree on a film, the spine decides, by a wide margin.
        _ if d.spine_offset > l.spine_offset + limits::PAIR_OFFSET_SWAP => ByView::new(true, true),
        // Otherwise a film's own call stands only if its partner is no more typical of the
        // film's slot by either measure (a scoliotic DV beside an unclear LV stays).
        _ => {
            let keep = d.more_dv_by_either(l, NEAR, OFF_NEAR);
            codes.as_ref().map(|c| c.contains(&QcCode::ViewSwapped) && !keep)
        }
    };
    for (_, (c, wrong)) in codes.as_mut().zip(wrong) {
        c.retain(|&c| c != QcCode::ViewSwapped);
        if wrong {
            c.push(QcCode::ViewSwapped);
        }
    }
    codes
}

/// Where the spine runs across the trunk of a model input (the animal's long axis vertical):
/// its distance from the trunk's midline over the trunk's half-width, 0..=1 (0 for an input
/// with no trunk).
///
/// Over the middle three fifths of the body's rows, leaving out rows widened by limbs, each
/// row's ridge response (a pixel over the mean of its neighbours two pixels away: the spine is
/// a narrow bright line) is pooled by position across the trunk, measured from the row's own
/// outline so that a curved or plump body keeps its midline. The strongest position within the
/// inner three quarters of the width is the spine's (a trunk's outline is itself a ridge at its
/// edges). Single rows mislead (a rib, a disc space); the pooled column does not.
pub fn spine_offset(input: &ModelInput) -> f64 {
    const BINS: usize = 40;
    const BODY: f32 = -0.8;
    let n = input.size as usize;
    if n < 16 || input.data.len() != n * n {
        return 0.0;
    }
    let row = |j: usize| &input.data[j * n..(j + 1) * n];
    let rows: Vec<usize> = (0..n).filter(|&j| row(j).iter().filter(|&&v| v > BODY).count() > n / 50).collect();
    let (Some(&first), Some(&last)) = (rows.first(), rows.last()) else { return 0.0 };
    let span = last - first;
    let outlines: Vec<(usize, usize, usize)> = (first + span / 5..first + 4 * span / 5)
        .filter_map(|j| {
            let l = row(j).iter().position(|&v| v > BODY)?;
            let r = row(j).iter().rposition(|&v| v > BODY)?;
            (r >= l + 10).then_some((j, l, r))
        })
        .collect();
    let mut widths: Vec<usize> = outlines.iter().map(|&(_, l, r)| r - l).collect();
    widths.sort_unstable();
    let Some(&median) = widths.get(widths.len() / 2) else { return 0.0 };
    let (mut sum, mut count) = ([0.0f64; BINS], [0usize; BINS]);
    for &(j, l, r) in &outlines {
        let w = r - l;
        if w * 10 > median * 13 {
            continue;
        }
        let v = row(j);
        for x in (l + 2).max(2)..=(r - 2).min(n - 3) {
            let ridge = f64::from(v[x] - (v[x - 2] + v[x + 2]) / 2.0);
            let u = (x as f64 - (l + r) as f64 / 2.0) / (w as f64 / 2.0);
            let b = (((u + 1.0) / 2.0 * BINS as f64) as usize).min(BINS - 1);
            sum[b] += ridge;
            count[b] += 1;
        }
    }
    let mut best = (f64::MIN, 0.0);
    for b in 0..BINS {
        let u = (b as f64 + 0.5) / BINS as f64 * 2.0 - 1.0;
        if u.abs() <= 0.75 && count[b] > 0 && sum[b] / count[b] as f64 > best.0 {
            best = (sum[b] / count[b] as f64, u.abs());
        }
    }
    best.1
}

/// Mirror symmetry of a model input about its vertical centre line: the input reduced to
/// 32 x 32 cells, correlated with its mirror image shifted by up to 4 cells either way; the best
/// correlation (-1..=1; 0 for a flat input).
pub fn mirror_symmetry(input: &ModelInput) -> f64 {
    let n = input.size as usize;
    if n == 0 || input.data.len() != n * n {
        return 0.0;
    }
    let (cells, m, _) = box_reduce(&input.data, n, n, n.div_ceil(32));
    let v: Vec<f64> = cells.iter().map(|&c| f64::from(c)).collect();
    let mut best = f64::MIN;
    for shift in -4i64..=4 {
        let (mut sa, mut sb, mut saa, mut sbb, mut sab, mut count) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
        for j in 0..m {
            for i in 0..m {
                // The mirror of column i about the centre moved by `shift` / 2 cells.
                let mirrored = m as i64 - 1 - i as i64 + shift;
                if mirrored < 0 || mirrored >= m as i64 {
                    continue;
                }
                let (a, b) = (v[j * m + i], v[j * m + mirrored as usize]);
                sa += a;
                sb += b;
                saa += a * a;
                sbb += b * b;
                sab += a * b;
                count += 1.0;
            }
        }
        if count < 2.0 {
            continue;
        }
        let cov = sab / count - sa / count * sb / count;
        let var = (saa / count - (sa / count).powi(2)) * (sbb / count - (sb / count).powi(2));
        if var > 1e-12 {
            best = best.max(cov / var.sqrt());
        }
    }
    if best == f64::MIN { 0.0 } else { best }
}
