use mousexray::specimen::View;
use mousexray::synth::{Phantom, Prevalence, attenuation, build};
fn main() {
    let p = Phantom::sample(3, 1, &Prevalence { abnormal: 0.0, ..Default::default() }, 0.0);
    for (v, view) in [View::Dv, View::Lv].into_iter().enumerate() {
        let body = build(&p.anatomy, &p.poses[v]);
        let (a, px) = attenuation(&body, view, 512, &p.placements[v]);
        let max = a.iter().cloned().fold(0.0f32, f32::max);
        let mean = a.iter().sum::<f32>() / a.len() as f32;
        let nz = a.iter().filter(|x| **x > 0.0).count();
        println!(
            "{view}: parts {} soft {} px {px:.3} mm max {max} mean {mean} nonzero {nz}",
            body.parts.len(),
            body.soft.len()
        );
        let img: Vec<u8> = a.iter().map(|x| ((x / 2.5).min(1.0) * 255.0) as u8).collect();
        image::GrayImage::from_raw(512, 512, img).unwrap().save(format!("/tmp/att_{v}.png")).unwrap();
    }
}
