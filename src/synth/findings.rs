//! The ten abnormalities: sampling them and changing the anatomy the way each would.

use serde::{Deserialize, Serialize};

use super::anatomy::{Anatomy, BoneChange, Curve, Fusion, LongBone, PawChange, RibBridge, Side};
use super::rng::Rng;

/// The L3 classes the generator knows, in taxonomy order.
pub const CLASSES: [&str; 10] = [
    "skull_shape",
    "teeth",
    "scoliosis",
    "kyphosis",
    "lordosis",
    "vertebral_fusion",
    "rib_fusion",
    "pelvis",
    "long_bones",
    "polysyndactyly",
];

/// One abnormality of one specimen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// L3 class id.
    pub class: String,
    /// 0 (invisible) to 1 (obvious).
    pub severity: f64,
    /// Which form it takes, in words (`domed`, `S-curve`, `extra digit`, ...).
    pub variant: String,
}

/// How abnormal specimens are drawn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prevalence {
    /// Fraction of specimens with at least one finding.
    pub abnormal: f64,
    /// Most findings per abnormal specimen (at least 1).
    pub max_findings: usize,
    /// Lowest severity drawn; severities are uniform from here to 1.
    pub min_severity: f64,
    /// The classes drawn from (empty: all ten).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<String>,
}

impl Default for Prevalence {
    fn default() -> Self {
        Prevalence { abnormal: 0.5, max_findings: 3, min_severity: 0.1, classes: Vec::new() }
    }
}

/// Draws the findings of one specimen: none for a normal animal, else 1 to `max_findings`
/// distinct classes (fewer more likely).
pub fn sample_findings(rng: &mut Rng, prevalence: &Prevalence) -> Vec<(String, f64)> {
    if !rng.chance(prevalence.abnormal) {
        return Vec::new();
    }
    let mut pool: Vec<&str> = CLASSES
        .iter()
        .copied()
        .filter(|c| prevalence.classes.is_empty() || prevalence.classes.iter().any(|x| x == c))
        .collect();
    let max = prevalence.max_findings.clamp(1, pool.len().max(1));
    let mut count = 1;
    while count < max && rng.chance(0.4) {
        count += 1;
    }
    let mut out = Vec::new();
    for _ in 0..count.min(pool.len()) {
        let class = pool.remove(rng.below(pool.len()));
        out.push((class.to_owned(), rng.range(prevalence.min_severity.clamp(0.0, 1.0), 1.0)));
    }
    out
}

fn side(rng: &mut Rng) -> Side {
    if rng.chance(0.5) { Side::Left } else { Side::Right }
}

/// Changes the anatomy for one finding; returns the finding with its variant.
pub fn apply(class: &str, severity: f64, anatomy: &mut Anatomy, rng: &mut Rng) -> Finding {
    let s = severity.clamp(0.0, 1.0);
    let variant: String = match class {
        "skull_shape" => match rng.below(3) {
            0 => {
                anatomy.cranium_height *= 1.0 + 0.38 * s;
                anatomy.cranium_length *= 1.0 - 0.08 * s;
                "domed cranium".into()
            }
            1 => {
                anatomy.snout_length *= 1.0 - 0.34 * s;
                anatomy.cranium_length *= 1.0 - 0.06 * s;
                "shortened skull".into()
            }
            _ => {
                anatomy.cranium_height *= 1.0 + 0.25 * s;
                anatomy.snout_length *= 1.0 - 0.22 * s;
                "domed and shortened".into()
            }
        },
        "teeth" => match rng.below(3) {
            0 => {
                anatomy.incisor_overgrowth_mm = 0.6 + 3.6 * s;
                "overgrown incisors".into()
            }
            1 => {
                anatomy.malocclusion_mm = 0.5 + 3.0 * s;
                anatomy.incisor_overgrowth_mm = 0.4 + 1.5 * s;
                "malocclusion".into()
            }
            _ => {
                anatomy.incisor_deviation_mm = rng.sign() * (0.3 + 1.0 * s);
                anatomy.malocclusion_mm = 0.3 + 1.5 * s;
                "misaligned incisors".into()
            }
        },
        "scoliosis" => {
            let amplitude = rng.sign() * (1.0 + 4.5 * s);
            let centre = rng.range(20.0, 50.0);
            let width = rng.range(6.0, 11.0);
            anatomy.lateral.push(Curve { centre_mm: centre, width_mm: width, amplitude_mm: amplitude });
            if rng.chance(0.35) {
                let second = if centre < 35.0 { centre + 2.2 * width } else { centre - 2.2 * width };
                anatomy.lateral.push(Curve { centre_mm: second, width_mm: width, amplitude_mm: -amplitude * 0.8 });
                "S-curve".into()
            } else {
                "C-curve".into()
            }
        }
        "kyphosis" => {
            anatomy.sagittal.push(Curve {
                centre_mm: rng.range(28.0, 42.0),
                width_mm: rng.range(6.0, 10.0),
                amplitude_mm: 1.2 + 4.2 * s,
            });
            "thoracolumbar hump".into()
        }
        "lordosis" => {
            anatomy.sagittal.push(Curve {
                centre_mm: rng.range(42.0, 55.0),
                width_mm: rng.range(5.0, 9.0),
                amplitude_mm: -(1.0 + 3.6 * s),
            });
            "lumbar sway".into()
        }
        "vertebral_fusion" => {
            let (first, region) = match rng.below(3) {
                0 => (1 + rng.below(4), "cervical"),
                1 => (8 + rng.below(10), "thoracic"),
                _ => (20 + rng.below(5), "lumbar"),
            };
            let count = if s > 0.6 && rng.chance(0.5) { 3 } else { 2 };
            anatomy.fusions.push(Fusion { first, count, completeness: 0.35 + 0.65 * s });
            format!("{count} {region} vertebrae")
        }
        "rib_fusion" => {
            let rib = 1 + rng.below(9);
            let start = rng.range(0.18, 0.4);
            let side = side(rng);
            anatomy.rib_bridges.push(RibBridge {
                rib,
                side,
                span: (start, start + 0.08 + 0.25 * s),
                thickness: 1.0 + 1.4 * s,
            });
            format!("ribs {} and {} ({:?})", rib + 1, rib + 2, side).to_lowercase()
        }
        "pelvis" => {
            if rng.chance(0.5) {
                anatomy.pelvis_width *= 1.0 - 0.32 * s;
                "narrow pelvis".into()
            } else {
                anatomy.pelvis_shift = (side(rng), rng.sign() * (0.8 + 3.2 * s));
                "asymmetric pelvis".into()
            }
        }
        "long_bones" => {
            let bone = [LongBone::Femur, LongBone::Tibia, LongBone::Humerus][rng.below(3)];
            let sides: Vec<Side> = if rng.chance(0.5) { Side::BOTH.to_vec() } else { vec![side(rng)] };
            let short = rng.chance(0.5);
            for sd in &sides {
                let (length, bow_mm) =
                    if short { (1.0 - (0.08 + 0.28 * s), 0.0) } else { (1.0, rng.sign() * (0.4 + 1.9 * s)) };
                anatomy.bones.push(BoneChange { bone, side: *sd, length, bow_mm });
            }
            format!(
                "{} {:?}{}",
                if short { "short" } else { "bowed" },
                bone,
                if sides.len() == 2 { " (both)" } else { "" }
            )
            .to_lowercase()
        }
        "polysyndactyly" => {
            let fore = rng.chance(0.5);
            let side = side(rng);
            if rng.chance(0.6) {
                anatomy.paws.push(PawChange { fore, side, extra_digit: 0.35 + 0.65 * s, fused_with_next: None });
                format!("extra digit, {} {:?}", if fore { "fore" } else { "hind" }, side).to_lowercase()
            } else {
                let first = 1 + rng.below(3);
                anatomy.paws.push(PawChange { fore, side, extra_digit: 0.0, fused_with_next: Some(first) });
                format!("fused digits {}-{}, {} {:?}", first + 1, first + 2, if fore { "fore" } else { "hind" }, side)
                    .to_lowercase()
            }
        }
        other => format!("unknown class {other}; no change"),
    };
    Finding { class: class.to_owned(), severity: s, variant }
}
