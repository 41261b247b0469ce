//! The review window's responsiveness, measured headless: an egui `Context` without a window
//! runs the whole UI (layout and tessellation; pixels are not rasterised) over a real folder
//! whose images decode on the real background threads. `mousexray bench --gui N`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::app::{AppOptions, ReviewApp};
use super::images::Slot;
use super::settings::Settings;

/// What `bench --gui` measured.
#[derive(Debug, Clone)]
pub struct GuiBench {
    /// Specimens in the folder.
    pub specimens: usize,
    /// Launch (app created, folder scan started) to the end of the first frame, ms.
    pub first_frame_ms: f64,
    /// Launch to the worklist filled (scan done), ms.
    pub worklist_ms: f64,
    /// Frame times while the worklist scrolls: p50, p99, ms.
    pub scroll: [f64; 2],
    /// Next-specimen latency (key press to both images ready) with prefetch: p50, p99, ms.
    pub next_prefetched: [f64; 2],
    /// The same without prefetch (cold neighbours, cache cleared): p50, p99, ms.
    pub next_cold: [f64; 2],
    /// Frame times while the classifier runs: p50, p99, ms; none without a model.
    pub inference: Option<[f64; 2]>,
    /// Specimens classified during the inference phase and its seconds.
    pub classified: (usize, f64),
}

fn quantiles(mut v: Vec<f64>) -> [f64; 2] {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v.get(((v.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(0.0);
    [at(0.5), at(0.99)]
}

/// Builds a folder of `n` specimens (flat layout) from one DV and one LV image: hard links to
/// private copies (a fresh copy every 30,000 links, under ext4's 65,000-link limit), or plain
/// copies where links are not possible.
pub fn make_folder(root: &Path, n: usize, dv: &Path, lv: &Path) -> std::io::Result<()> {
    const LINKS_PER_COPY: usize = 30_000;
    // Beside the folder, not in it: the scan must not see them.
    let sources = root.with_extension("sources");
    std::fs::create_dir_all(&sources)?;
    std::fs::create_dir_all(root)?;
    let ext = |p: &Path| p.extension().map_or_else(String::new, |e| e.to_string_lossy().into_owned());
    for (src, view) in [(dv, "dv"), (lv, "lv")] {
        let mut copy = PathBuf::new();
        for i in 0..n {
            if i % LINKS_PER_COPY == 0 {
                copy = sources.join(format!("{view}{}.{}", i / LINKS_PER_COPY, ext(src)));
                std::fs::copy(src, &copy)?;
            }
            let dst = root.join(format!("B{i:06}_{view}.{}", ext(src)));
            if std::fs::hard_link(&copy, &dst).is_err() {
                std::fs::copy(&copy, &dst)?;
            }
        }
    }
    Ok(())
}

struct Driver {
    app: ReviewApp,
    ctx: egui::Context,
    start: Instant,
}

impl Driver {
    /// One frame with `events`; returns its duration in ms (UI and tessellation).
    fn frame(&mut self, events: Vec<egui::Event>) -> f64 {
        let input = egui::RawInput {
            screen_rect: Some(egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(1400.0, 860.0))),
            time: Some(self.start.elapsed().as_secs_f64()),
            events,
            ..Default::default()
        };
        let t = Instant::now();
        let out = self.ctx.run_ui(input, |ui| self.app.ui(ui));
        let _ = self.ctx.tessellate(out.shapes, out.pixels_per_point);
        t.elapsed().as_secs_f64() * 1e3
    }

    fn images_ready(&mut self) -> bool {
        let Some(s) = self.app.workspace.as_ref().and_then(|w| w.selected_specimen()).cloned() else { return false };
        s.images.values().all(|p| !matches!(self.app.images.get(p, true), Slot::Loading))
    }

    /// Presses J and waits (running frames) until both images of the new specimen are ready.
    fn next_specimen(&mut self) -> f64 {
        let t = Instant::now();
        self.frame(vec![key(egui::Key::J)]);
        while !self.images_ready() && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_micros(200));
            self.app.images.poll();
        }
        t.elapsed().as_secs_f64() * 1e3
    }
}

fn key(key: egui::Key) -> egui::Event {
    egui::Event::Key { key, physical_key: None, pressed: true, repeat: false, modifiers: egui::Modifiers::NONE }
}

/// Runs the benchmark on `folder`; `model` for the inference phase.
pub fn run(folder: &Path, specimens: usize, model: Option<PathBuf>, ort_lib: Option<PathBuf>) -> GuiBench {
    let start = Instant::now();
    let settings = Settings {
        model,
        recent_folders: Vec::new(),
        auto_advance: false,
        reviewer_confirmed: true,
        ..Settings::default()
    };
    let has_model = settings.model.is_some();
    let mut d = Driver {
        app: ReviewApp::new(settings, AppOptions { ort_lib, ..AppOptions::default() }),
        ctx: egui::Context::default(),
        start,
    };
    d.app.open_folder(&d.ctx, folder.to_owned());
    d.frame(Vec::new());
    let first_frame_ms = start.elapsed().as_secs_f64() * 1e3;
    while d.app.workspace.is_none() && start.elapsed() < Duration::from_secs(600) {
        std::thread::sleep(Duration::from_millis(1));
        d.frame(Vec::new());
    }
    let worklist_ms = start.elapsed().as_secs_f64() * 1e3;

    // Scrolling the worklist with the wheel.
    let mut scroll = Vec::new();
    for i in 0..300 {
        let pos = egui::pos2(200.0, 400.0);
        let delta = if (i / 100) % 2 == 0 { -60.0 } else { 60.0 };
        scroll.push(d.frame(vec![
            egui::Event::PointerMoved(pos),
            egui::Event::MouseWheel {
                unit: egui::MouseWheelUnit::Point,
                delta: egui::vec2(0.0, delta),
                phase: egui::TouchPhase::Move,
                source: egui::MouseWheelSource::Wheel,
                modifiers: egui::Modifiers::NONE,
            },
        ]));
    }

    // Next specimen with prefetch: a reviewer pausing ~150 ms per specimen lets it work.
    let mut warm = Vec::new();
    for _ in 0..40 {
        for _ in 0..10 {
            d.frame(Vec::new());
            std::thread::sleep(Duration::from_millis(15));
            d.app.images.poll();
        }
        warm.push(d.next_specimen());
    }
    // Cold: a fresh cache before each step, so nothing was decoded ahead.
    let mut cold = Vec::new();
    for _ in 0..20 {
        d.app.images = super::images::ImageCache::new(1 << 30, 2);
        cold.push(d.next_specimen());
    }

    let mut inference = None;
    let mut classified = (0, 0.0);
    if has_model {
        let t = Instant::now();
        d.app.start_classify(&d.ctx, false);
        let mut frames = Vec::new();
        while (d.app.tasks.classify.is_some() || d.app.model.loading || d.app.tasks.pending_classify.is_some())
            && t.elapsed() < Duration::from_secs(60)
        {
            frames.push(d.frame(vec![key(egui::Key::J)]));
            std::thread::sleep(Duration::from_millis(8));
        }
        let done = d.app.workspace.as_ref().map_or(0, |w| w.results.iter().flatten().count());
        if let Some(run) = d.app.tasks.classify.as_ref() {
            classified = (run.done, t.elapsed().as_secs_f64());
        } else {
            classified = (done, t.elapsed().as_secs_f64());
        }
        if let Some(e) = d.app.tasks.engine.as_ref() {
            e.cancel.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        inference = Some(quantiles(frames));
    }
    GuiBench {
        specimens,
        first_frame_ms,
        worklist_ms,
        scroll: quantiles(scroll),
        next_prefetched: quantiles(warm),
        next_cold: quantiles(cold),
        inference,
        classified,
    }
}
