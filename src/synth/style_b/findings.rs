//! Style b's ten findings, each defined against style b's normal range: a curvature is angular
//! (a bump a few millimetres wide) where the normal posture's arcs are broad.

use super::{Bend, BoneShape, Plan};
use crate::synth::{Finding, Rng};

/// Changes the plan for one finding; returns it with its variant in words.
pub fn apply(class: &str, severity: f64, plan: &mut Plan, rng: &mut Rng) -> Finding {
    let s = severity.clamp(0.0, 1.0);
    let variant: String = match class {
        "skull_shape" => {
            if rng.chance(0.5) {
                plan.cranium_mm[2] *= 1.0 + 0.4 * s;
                plan.cranium_mm[0] *= 1.0 - 0.1 * s;
                "domed".into()
            } else {
                plan.snout_mm *= 1.0 - 0.4 * s;
                "short snout".into()
            }
        }
        "teeth" => {
            if rng.chance(0.6) {
                plan.incisor_growth_deg += 40.0 + 130.0 * s;
                "incisors overgrown".into()
            } else {
                plan.jaw_shift_mm.0 += rng.sign() * (0.6 + 2.2 * s);
                plan.jaw_shift_mm.1 += rng.sign() * (0.3 + 1.0 * s);
                plan.incisor_growth_deg += 20.0 + 40.0 * s;
                "jaw out of line".into()
            }
        }
        "scoliosis" => {
            let at = rng.range(18.0, 52.0);
            let angle = rng.sign() * (18.0 + 42.0 * s);
            let spread = rng.range(2.5, 4.5);
            plan.bends.push(Bend { at_mm: at, spread_mm: spread, angle_deg: angle, lateral: true });
            if rng.chance(0.5) {
                let other = if at < 35.0 { at + 14.0 } else { at - 14.0 };
                plan.bends.push(Bend { at_mm: other, spread_mm: spread, angle_deg: -angle, lateral: true });
                "S".into()
            } else {
                "C".into()
            }
        }
        "kyphosis" => {
            let at = rng.range(26.0, 44.0);
            let angle = 22.0 + 45.0 * s;
            plan.bends.push(Bend { at_mm: at, spread_mm: rng.range(2.0, 3.5), angle_deg: angle, lateral: false });
            // The body behind the hump partly comes back towards its line.
            plan.bends.push(Bend { at_mm: at + 9.0, spread_mm: 5.0, angle_deg: -0.4 * angle, lateral: false });
            "angular hump".into()
        }
        "lordosis" => {
            let at = rng.range(42.0, 56.0);
            let angle = 18.0 + 40.0 * s;
            plan.bends.push(Bend { at_mm: at, spread_mm: rng.range(2.0, 3.5), angle_deg: -angle, lateral: false });
            plan.bends.push(Bend { at_mm: at + 8.0, spread_mm: 4.0, angle_deg: 0.5 * angle, lateral: false });
            "lumbar sway".into()
        }
        "vertebral_fusion" => {
            let first = [2, 9, 15, 21][rng.below(4)] + rng.below(4);
            let count = 2 + usize::from(s > 0.5 && rng.chance(0.5));
            plan.fusions.push((first, count, 0.4 + 0.6 * s));
            format!("{count} vertebrae from {first}")
        }
        "rib_fusion" => {
            let rib = rng.below(10);
            let start = rng.range(0.15, 0.5);
            let side = rng.sign();
            plan.rib_links.push((rib, side, start, start + 0.1 + 0.3 * s, 0.25 + 0.35 * s));
            format!("ribs {} and {}", rib + 1, rib + 2)
        }
        "pelvis" => {
            if rng.chance(0.5) {
                plan.hip_half_width_mm *= 1.0 - 0.4 * s;
                "narrow".into()
            } else {
                plan.hip_shift_mm[rng.below(2)] += rng.sign() * (1.0 + 3.0 * s);
                "asymmetric".into()
            }
        }
        "long_bones" => {
            let (limb, segment) = [(2, 0), (2, 1), (0, 0)][rng.below(3)];
            let both = rng.chance(0.5);
            let first = limb + rng.below(2);
            let short = rng.chance(0.5);
            let shape = if short {
                BoneShape { length: 1.0 - (0.1 + 0.3 * s), bow_mm: 0.0 }
            } else {
                BoneShape { length: 1.0, bow_mm: rng.sign() * (0.5 + 2.0 * s) }
            };
            for l in if both { vec![limb, limb + 1] } else { vec![first] } {
                plan.long_bones[l][segment] = shape.clone();
            }
            let bone = match (limb, segment) {
                (2, 0) => "femur",
                (2, _) => "tibia",
                _ => "humerus",
            };
            format!("{} {bone}{}", if short { "short" } else { "bowed" }, if both { " (both)" } else { "" })
        }
        "polysyndactyly" => {
            let paw = rng.below(4);
            if rng.chance(0.6) {
                plan.paws[paw].extra_digit = 0.4 + 0.6 * s;
                "extra digit".into()
            } else {
                plan.paws[paw].joined = Some(1 + rng.below(3));
                "joined digits".into()
            }
        }
        other => format!("unknown class {other}; no change"),
    };
    Finding { class: class.to_owned(), severity: s, variant }
}
