//! Radiographs for the viewer and the contact sheet: decoded on background threads (the
//! current specimen first, then its neighbours), kept in an LRU cache under a memory budget, and
//! turned into textures through a window/level lookup table at the original bit depth.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Condvar, Mutex};

use crate::imaging::{BodyAxis, DecodeOptions, GrayImage16, Window, body_axis, decode, shrink16};

/// What a [`DecodeCache`] holds: made from a file on a decoding thread.
pub trait Decoded: Send + Sync + Sized + 'static {
    /// Reads `path`; the error is the reason, shown to the reviewer with the file's name.
    fn load(path: &Path) -> Result<Self, String>;
    /// Bytes held, counted against the cache's budget.
    fn bytes(&self) -> usize;
}

/// Longest side of the copy drawn on screen; zooming past it shows the copy's pixels, the
/// readout always reads the original.
pub const DISPLAY_MAX_SIDE: u32 = 2048;

/// A decoded radiograph.
#[derive(Debug)]
pub struct LoadedImage {
    /// The original pixels (the readout and full-resolution windowing read these).
    pub original: GrayImage16,
    /// The copy drawn on screen (at most [`DISPLAY_MAX_SIDE`]).
    pub display: GrayImage16,
    /// Original pixels per display pixel.
    pub downscale: f64,
    /// Window from the 0.5th..99.5th percentiles.
    pub auto_window: Window,
    /// The display copy already windowed with `auto_window` (rendered on the decoding thread,
    /// so showing a new specimen costs the UI thread nothing but an upload).
    pub auto_rendered: Arc<egui::ColorImage>,
    /// Millimetres per original pixel and the attribute that said so, for a DICOM file that
    /// carries its pixel spacing.
    pub spacing: Option<crate::imaging::PixelSpacing>,
    /// The animal's long axis and head end (for the head-up hanging protocol), if found.
    pub axis: Option<BodyAxis>,
}

/// Longest side of the copy the head end is found on: the analysis works on a grid of about
/// 200 cells anyway, so a larger copy costs time and finds the same.
pub const AXIS_SIDE: u32 = 256;

/// The animal's axis on `image`, from a copy at most [`AXIS_SIDE`] pixels long, in the image's
/// own pixels (the direction is the same at any scale).
pub fn axis_of(image: &GrayImage16) -> Option<BodyAxis> {
    let (small, _) = shrink16(image, AXIS_SIDE);
    body_axis(&small)
}

impl Decoded for LoadedImage {
    fn load(path: &Path) -> Result<LoadedImage, String> {
        let original = decode(path, &DecodeOptions::default()).map_err(|e| e.to_string())?;
        let (display, downscale) = shrink16(&original, DISPLAY_MAX_SIDE);
        let auto_window = Window::from_percentiles(&display, 0.005, 0.995);
        let auto_rendered = Arc::new(render(&display, &auto_window, false));
        let spacing = if original.format == crate::imaging::FileFormat::Dicom {
            crate::imaging::pixel_spacing_mm(path)
        } else {
            None
        };
        let axis = axis_of(&display);
        Ok(LoadedImage { original, display, downscale, auto_window, auto_rendered, spacing, axis })
    }

    fn bytes(&self) -> usize {
        (self.original.pixels.len() + self.display.pixels.len()) * 2 + self.auto_rendered.pixels.len() * 4
    }
}

impl LoadedImage {
    /// The display copy through `window` as an egui image.
    pub fn render(&self, window: &Window, invert: bool) -> Arc<egui::ColorImage> {
        if *window == self.auto_window && !invert {
            return self.auto_rendered.clone();
        }
        Arc::new(render(&self.display, window, invert))
    }
}

/// `image` through a window/level lookup table.
pub(super) fn render(image: &GrayImage16, window: &Window, invert: bool) -> egui::ColorImage {
    let lut = window.lut(image.max_value(), invert);
    let size = [image.width as usize, image.height as usize];
    egui::ColorImage::from_gray_iter(
        size,
        image.pixels.iter().map(|&v| lut.get(usize::from(v)).copied().unwrap_or(255)),
    )
}

/// Where an image stands.
#[derive(Debug)]
pub enum Slot<T = LoadedImage> {
    /// Being decoded.
    Loading,
    /// Ready.
    Ready(Arc<T>),
    /// Could not be decoded: the reason.
    Failed(String),
}

// Derived Clone would ask T: Clone; an Arc clones without it.
impl<T> Clone for Slot<T> {
    fn clone(&self) -> Self {
        match self {
            Slot::Loading => Slot::Loading,
            Slot::Ready(t) => Slot::Ready(t.clone()),
            Slot::Failed(e) => Slot::Failed(e.clone()),
        }
    }
}

struct Entry<T> {
    slot: Slot<T>,
    last_used: u64,
}

struct Queue {
    /// Most urgent last (popped first).
    jobs: Mutex<(VecDeque<PathBuf>, bool)>,
    ready: Condvar,
}

/// Decoded films for the viewer.
pub type ImageCache = DecodeCache<LoadedImage>;

/// Decoded files by path, filled by worker threads.
pub struct DecodeCache<T: Decoded> {
    entries: HashMap<PathBuf, Entry<T>>,
    budget: usize,
    clock: u64,
    queue: Arc<Queue>,
    results: Receiver<(PathBuf, Result<T, String>)>,
    repaint: Arc<Mutex<Option<egui::Context>>>,
    workers: Vec<std::thread::JoinHandle<()>>,
}

impl<T: Decoded> DecodeCache<T> {
    /// A cache of at most `budget` bytes with `threads` decoders.
    pub fn new(budget: usize, threads: usize) -> DecodeCache<T> {
        let queue = Arc::new(Queue { jobs: Mutex::new((VecDeque::new(), false)), ready: Condvar::new() });
        let (tx, results) = channel();
        let repaint: Arc<Mutex<Option<egui::Context>>> = Arc::new(Mutex::new(None));
        let workers = (0..threads.max(1))
            .map(|_| {
                let (queue, tx, repaint) = (queue.clone(), tx.clone(), repaint.clone());
                std::thread::spawn(move || worker::<T>(&queue, &tx, &repaint))
            })
            .collect();
        DecodeCache { entries: HashMap::new(), budget, clock: 0, queue, results, repaint, workers }
    }

    /// The context to wake when an image arrives.
    pub fn set_context(&self, ctx: &egui::Context) {
        if let Ok(mut r) = self.repaint.lock()
            && r.is_none()
        {
            *r = Some(ctx.clone());
        }
    }

    /// The image at `path`, asking for it if unknown. `urgent` requests jump the queue.
    pub fn get(&mut self, path: &Path, urgent: bool) -> Slot<T> {
        self.clock += 1;
        let clock = self.clock;
        if let Some(e) = self.entries.get_mut(path) {
            e.last_used = clock;
            let slot = e.slot.clone();
            if urgent && matches!(slot, Slot::Loading) {
                self.bump(path);
            }
            return slot;
        }
        self.entries.insert(path.to_owned(), Entry { slot: Slot::Loading, last_used: clock });
        if let Ok(mut q) = self.queue.jobs.lock() {
            if urgent {
                q.0.push_back(path.to_owned());
            } else {
                q.0.push_front(path.to_owned());
            }
            self.queue.ready.notify_one();
        }
        Slot::Loading
    }

    fn bump(&self, path: &Path) {
        if let Ok(mut q) = self.queue.jobs.lock()
            && let Some(i) = q.0.iter().position(|p| p == path)
            && let Some(p) = q.0.remove(i)
        {
            q.0.push_back(p);
        }
    }

    /// Takes finished decodes and evicts least recently used images over the budget.
    pub fn poll(&mut self) {
        while let Ok((path, result)) = self.results.try_recv() {
            let slot = match result {
                Ok(img) => Slot::Ready(Arc::new(img)),
                Err(e) => Slot::Failed(e),
            };
            if let Some(e) = self.entries.get_mut(&path) {
                e.slot = slot;
            }
        }
        let mut used: usize = self.entries.values().map(entry_bytes).sum();
        while used > self.budget {
            let Some((victim, bytes)) = self
                .entries
                .iter()
                .filter(|(_, e)| matches!(e.slot, Slot::Ready(_)) && e.last_used + 4 < self.clock)
                .min_by_key(|(_, e)| e.last_used)
                .map(|(p, e)| (p.clone(), entry_bytes(e)))
            else {
                break;
            };
            self.entries.remove(&victim);
            used = used.saturating_sub(bytes);
        }
    }

    /// Whether any decode is pending.
    pub fn busy(&self) -> bool {
        self.entries.values().any(|e| matches!(e.slot, Slot::Loading))
    }
}

fn entry_bytes<T: Decoded>(e: &Entry<T>) -> usize {
    match &e.slot {
        Slot::Ready(img) => img.bytes(),
        _ => 0,
    }
}

fn worker<T: Decoded>(
    queue: &Queue,
    tx: &Sender<(PathBuf, Result<T, String>)>,
    repaint: &Mutex<Option<egui::Context>>,
) {
    loop {
        let path = {
            let Ok(mut q) = queue.jobs.lock() else { return };
            loop {
                if q.1 {
                    return;
                }
                if let Some(p) = q.0.pop_back() {
                    break p;
                }
                let Ok(g) = queue.ready.wait(q) else { return };
                q = g;
            }
        };
        let result = T::load(&path);
        if tx.send((path, result)).is_err() {
            return;
        }
        if let Ok(r) = repaint.lock()
            && let Some(ctx) = r.as_ref()
        {
            ctx.request_repaint();
        }
    }
}

impl<T: Decoded> Drop for DecodeCache<T> {
    fn drop(&mut self) {
        if let Ok(mut q) = self.queue.jobs.lock() {
            q.1 = true;
            q.0.clear();
        }
        self.queue.ready.notify_all();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}
