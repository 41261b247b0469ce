//! Scan throughput on a generated folder of 50,000 image files (`cargo bench --bench scan`).
//!
//! Files carry real PNG signatures (the scanner sniffs content) but no pixels: scanning never
//! decodes. Half the specimens use the subfolder layout, half flat names.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Instant;

fn main() {
    let files: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(50_000);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let head = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\x04\x08\0\0\x04\x08\x10\0\0\0\0";
    let specimens = files / 2;
    let t = Instant::now();
    for i in 0..specimens {
        if i % 2 == 0 {
            let d = root.join(format!("M{i:06}"));
            std::fs::create_dir(&d).unwrap();
            std::fs::write(d.join("dv.png"), head).unwrap();
            std::fs::write(d.join("lv.png"), head).unwrap();
        } else {
            std::fs::write(root.join(format!("M{i:06}_DV.png")), head).unwrap();
            std::fs::write(root.join(format!("M{i:06}_lateral.png")), head).unwrap();
        }
    }
    println!("wrote {} files in {:.2} s", specimens * 2, t.elapsed().as_secs_f64());
    let mut times = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let report = mousexray::specimen::scan(root).unwrap();
        times.push(t.elapsed().as_secs_f64());
        assert_eq!(report.specimens.len(), specimens);
        assert!(report.problems.is_empty(), "{:?}", report.problems.first());
    }
    times.sort_by(f64::total_cmp);
    let best = times[0];
    println!(
        "scan: {} files, {} specimens: best {:.3} s, median {:.3} s ({:.0} files/s, {} threads)",
        specimens * 2,
        specimens,
        best,
        times[1],
        (specimens * 2) as f64 / best,
        rayon::current_num_threads()
    );
}
