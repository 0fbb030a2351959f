//! The motion model (docs/detection.md): a background per pixel of a small luma picture, each
//! pixel's own noise, and the rules that make a change *motion*. Pure: frames in, changes out.
//!
//! Per analysed frame:
//! 1. The difference to the background, minus its median over the counted pixels: a change of
//!    the whole picture's brightness (clouds, auto exposure, headlights on a wall) moves the
//!    median, not the pixels' difference to it.
//! 2. A pixel changed when that exceeds both `detect_threshold` and 3× the pixel's own noise
//!    (learned where nothing moves): a noisy sensor or leaves in the wind raise their own bar.
//! 3. Changed pixels are grouped into 4-connected areas; areas smaller than [`MIN_BLOB`] pixels
//!    (rain, snow, noise that got through) are dropped. What is left, as a share of the counted
//!    pixels (zones minus masks), must reach `detect_min_area` %.
//! 4. More than [`GLOBAL_SHARE`] of the picture changed at once (with or without the median
//!    taken out) is not motion but a new picture (an IR switch, a lamp, a brightness step): the
//!    background becomes this frame.
//! 5. Motion starts once there has been some for `detect_min_secs` (its time is the first
//!    frame that had it) and ends [`END_AFTER_SECS`] after the last frame that had it.
//!
//! The background follows the picture with a time constant of [`TAU_BACKGROUND`] where nothing
//! moves (slow light changes) and [`TAU_FOREGROUND`] where something does (a car that parks
//! becomes background after a minute or so).

use super::zones::{raster, Polygon};

/// Areas smaller than this many pixels (of the analysis picture) are not motion.
pub const MIN_BLOB: usize = 6;
/// A change over more than this share of the counted pixels at once is a new picture.
pub const GLOBAL_SHARE: f64 = 0.5;
/// Motion ends this long after the last frame that had it.
pub const END_AFTER_SECS: f64 = 2.0;
/// Background time constants (seconds): where nothing moves, and where something does.
pub const TAU_BACKGROUND: f64 = 3.0;
pub const TAU_FOREGROUND: f64 = 60.0;
/// Two candidate frames further apart than this (or 1.5 times the time between the last two
/// frames analysed, when that is longer) are not one stretch of motion.
const GAP_SECS: f64 = 0.6;

/// The user's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// A pixel's luma must change by more than this (0–255).
    pub threshold: u8,
    /// Share of the counted picture (%) that must change.
    pub min_area: f64,
    /// Motion must last this long to count (seconds).
    pub min_secs: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            threshold: 20,
            min_area: 0.5,
            min_secs: 0.5,
        }
    }
}

/// What one frame showed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Analysis {
    /// Share of the counted pixels in areas that count (%).
    pub changed_percent: f64,
    /// The whole picture changed: not motion.
    pub global: bool,
    /// There is motion in this frame (before `min_secs`).
    pub moving: bool,
    /// The areas that count: `[x, y, w, h]` in 0..1 of the picture.
    pub boxes: Vec<[f32; 4]>,
}

/// Motion started or ended, at a frame's time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Change {
    Started { at: f64 },
    Ended { at: f64 },
}

pub struct Model {
    w: usize,
    h: usize,
    params: Params,
    counted: Vec<bool>,
    counted_n: usize,
    bg: Vec<f32>,
    noise: Vec<f32>,
    last_t: Option<f64>,
    /// Two moving frames further apart than this are two stretches of motion.
    gap: f64,
    /// The first frame of the current stretch of candidate frames, and the latest one.
    since: Option<f64>,
    last_seen: Option<f64>,
    on: bool,
    // Scratch, kept between frames.
    changed: Vec<bool>,
    label: Vec<u32>,
    stack: Vec<usize>,
}

impl Model {
    pub fn new(w: usize, h: usize, params: Params, zones: &[Polygon], masks: &[Polygon]) -> Model {
        let counted = raster(w, h, zones, masks);
        let counted_n = counted.iter().filter(|c| **c).count();
        Model {
            w,
            h,
            params,
            counted,
            counted_n,
            bg: Vec::new(),
            noise: vec![2.0; w * h],
            last_t: None,
            gap: GAP_SECS,
            since: None,
            last_seen: None,
            on: false,
            changed: vec![false; w * h],
            label: vec![0; w * h],
            stack: Vec::new(),
        }
    }

    pub fn size(&self) -> (usize, usize) {
        (self.w, self.h)
    }

    pub fn is_on(&self) -> bool {
        self.on
    }

    /// New settings (the zones keep their raster).
    pub fn set_params(&mut self, p: Params) {
        self.params = p;
    }

    /// New settings and zones, applied from the next frame; the background and each pixel's
    /// noise stay learned. Motion that is on goes on (it ends by the new rules).
    pub fn reconfigure(&mut self, p: Params, zones: &[Polygon], masks: &[Polygon]) {
        self.params = p;
        self.counted = raster(self.w, self.h, zones, masks);
        self.counted_n = self.counted.iter().filter(|c| **c).count();
    }

    /// Forgets the background (a new stream): the next frame starts it again. Motion that was
    /// on is ended at `t`.
    pub fn reset(&mut self, t: f64) -> Option<Change> {
        self.bg.clear();
        self.last_t = None;
        self.since = None;
        self.last_seen = None;
        std::mem::take(&mut self.on).then_some(Change::Ended { at: t })
    }

    /// One frame (`luma`: `w`×`h`, row after row) at time `t` (seconds, increasing).
    // Five arrays of one pixel each are walked together: an index reads plainer than a zip.
    #[allow(clippy::needless_range_loop)]
    pub fn feed(&mut self, luma: &[u8], t: f64) -> (Analysis, Option<Change>) {
        let n = self.w * self.h;
        assert_eq!(luma.len(), n, "a frame of the model's size");
        if self.bg.len() != n || self.counted_n == 0 {
            self.bg = luma.iter().map(|&v| f32::from(v)).collect();
            self.last_t = Some(t);
            return (Analysis::default(), None);
        }
        let dt = self.last_t.map_or(0.2, |l| (t - l).clamp(0.0, 5.0));
        self.last_t = Some(t);
        // Frames a second apart (keyframes only) are as continuous as frames 0.2 s apart.
        self.gap = GAP_SECS.max(1.5 * dt);

        // 1. The median difference over the counted pixels (histogram of -255..=255).
        let mut hist = [0u32; 511];
        for i in 0..n {
            if self.counted[i] {
                let d = (f32::from(luma[i]) - self.bg[i]).round() as i32;
                hist[(d + 255).clamp(0, 510) as usize] += 1;
            }
        }
        let half = self.counted_n.div_ceil(2) as u32;
        let mut acc = 0;
        let mut median = 0.0f32;
        for (b, c) in hist.iter().enumerate() {
            acc += c;
            if acc >= half {
                median = b as f32 - 255.0;
                break;
            }
        }

        // 2. Changed pixels.
        let floor = f32::from(self.params.threshold);
        let (mut changed_n, mut raw_n) = (0usize, 0usize);
        for i in 0..n {
            let raw = f32::from(luma[i]) - self.bg[i];
            let bar = floor.max(3.0 * self.noise[i]);
            let c = self.counted[i] && (raw - median).abs() > bar;
            self.changed[i] = c;
            changed_n += usize::from(c);
            raw_n += usize::from(self.counted[i] && raw.abs() > bar);
        }
        // Most of the picture changed, before or after taking out the median: a new picture.
        let share = changed_n.max(raw_n) as f64 / self.counted_n as f64;
        let mut a = Analysis::default();
        if share > GLOBAL_SHARE {
            // 4. A new picture: start the background over from it.
            a.global = true;
            a.changed_percent = share * 100.0;
            for i in 0..n {
                self.bg[i] = f32::from(luma[i]);
            }
            let change = self.timing(false, t);
            return (a, change);
        }

        // 3. Connected areas of changed pixels.
        let mut counted_area = 0usize;
        self.label.iter_mut().for_each(|l| *l = 0);
        let mut next = 0u32;
        for start in 0..n {
            if !self.changed[start] || self.label[start] != 0 {
                continue;
            }
            next += 1;
            let (mut area, mut x0, mut y0, mut x1, mut y1) = (0usize, self.w, self.h, 0, 0);
            self.stack.clear();
            self.stack.push(start);
            self.label[start] = next;
            while let Some(p) = self.stack.pop() {
                area += 1;
                let (x, y) = (p % self.w, p / self.w);
                (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
                let visit = |q: usize, stack: &mut Vec<usize>, label: &mut Vec<u32>| {
                    if self.changed[q] && label[q] == 0 {
                        label[q] = next;
                        stack.push(q);
                    }
                };
                if x > 0 {
                    visit(p - 1, &mut self.stack, &mut self.label);
                }
                if x + 1 < self.w {
                    visit(p + 1, &mut self.stack, &mut self.label);
                }
                if y > 0 {
                    visit(p - self.w, &mut self.stack, &mut self.label);
                }
                if y + 1 < self.h {
                    visit(p + self.w, &mut self.stack, &mut self.label);
                }
            }
            if area >= MIN_BLOB {
                counted_area += area;
                let (fw, fh) = (self.w as f32, self.h as f32);
                a.boxes.push([
                    x0 as f32 / fw,
                    y0 as f32 / fh,
                    (x1 + 1 - x0) as f32 / fw,
                    (y1 + 1 - y0) as f32 / fh,
                ]);
            }
        }
        a.changed_percent = counted_area as f64 * 100.0 / self.counted_n as f64;
        a.moving = counted_area > 0 && a.changed_percent >= self.params.min_area;

        // Background and noise follow the picture.
        let k_bg = (1.0 - (-dt / TAU_BACKGROUND).exp()) as f32;
        let k_fg = (1.0 - (-dt / TAU_FOREGROUND).exp()) as f32;
        let k_noise = (1.0 - (-dt / 2.0).exp()) as f32;
        for i in 0..n {
            let v = f32::from(luma[i]);
            let d = (v - self.bg[i] - median).abs();
            if self.changed[i] {
                self.bg[i] += k_fg * (v - self.bg[i]);
            } else {
                self.bg[i] += k_bg * (v - self.bg[i]);
                self.noise[i] += k_noise * (d.min(64.0) - self.noise[i]);
            }
        }
        let change = self.timing(a.moving, t);
        (a, change)
    }

    /// 5. Start after `min_secs` of motion, end [`END_AFTER_SECS`] after the last.
    fn timing(&mut self, moving: bool, t: f64) -> Option<Change> {
        if moving {
            let continues = self.last_seen.is_some_and(|l| t - l <= self.gap);
            if !continues && !self.on {
                self.since = Some(t);
            }
            self.last_seen = Some(t);
            let since = self.since.unwrap_or(t);
            if !self.on && t - since >= self.params.min_secs {
                self.on = true;
                return Some(Change::Started { at: since });
            }
            return None;
        }
        if self.on && self.last_seen.is_some_and(|l| t - l >= END_AFTER_SECS) {
            self.on = false;
            self.since = None;
            return Some(Change::Ended { at: t });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: usize = 64;
    const H: usize = 36;

    /// A flat grey picture with pseudo-random noise of ±`noise`, and a white square of side
    /// `side` at `(x, y)` when given.
    fn frame(level: u8, noise: u8, seed: u64, square: Option<(usize, usize, usize)>) -> Vec<u8> {
        let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        let mut out = Vec::with_capacity(W * H);
        for i in 0..W * H {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let r = if noise == 0 {
                0
            } else {
                ((s >> 33) % (2 * u64::from(noise) + 1)) as i32 - i32::from(noise)
            };
            let mut v = i32::from(level) + r;
            if let Some((x, y, side)) = square {
                let (px, py) = (i % W, i / W);
                if (x..x + side).contains(&px) && (y..y + side).contains(&py) {
                    v = 230;
                }
            }
            out.push(v.clamp(0, 255) as u8);
        }
        out
    }

    fn run(m: &mut Model, frames: impl Iterator<Item = (f64, Vec<u8>)>) -> Vec<Change> {
        frames.filter_map(|(t, f)| m.feed(&f, t).1).collect()
    }

    fn model() -> Model {
        Model::new(W, H, Params::default(), &[], &[])
    }

    #[test]
    fn a_moving_square_starts_and_ends_motion_at_its_times() {
        let mut m = model();
        // 5 fps: still for 4 s, a square crossing from 4 s to 8 s, still again.
        let changes = run(
            &mut m,
            (0..80).map(|i| {
                let t = f64::from(i) * 0.2;
                let sq = (4.0..8.0)
                    .contains(&t)
                    .then_some((((t - 4.0) * 12.0) as usize, 10, 8));
                (t, frame(100, 3, i as u64, sq))
            }),
        );
        assert_eq!(changes.len(), 2, "{changes:?}");
        match changes[0] {
            Change::Started { at } => assert!((at - 4.0).abs() < 0.01, "{at}"),
            c => panic!("{c:?}"),
        }
        match changes[1] {
            Change::Ended { at } => assert!((8.0..=10.5).contains(&at), "{at}"),
            c => panic!("{c:?}"),
        }
    }

    #[test]
    fn noise_slow_light_and_a_global_step_are_not_motion() {
        let mut m = model();
        // Heavy noise (±12) with the level drifting from 60 to 160 over 40 s, and a step of
        // +60 at 20 s.
        let changes = run(
            &mut m,
            (0..200).map(|i| {
                let t = f64::from(i) * 0.2;
                let level = 60.0 + t * 2.5 + if t >= 20.0 { 60.0 } else { 0.0 };
                (t, frame(level.min(250.0) as u8, 12, i as u64, None))
            }),
        );
        assert!(changes.is_empty(), "{changes:?}");
    }

    #[test]
    fn a_new_picture_is_not_motion_but_a_new_background() {
        let mut m = model();
        for i in 0..10 {
            m.feed(&frame(100, 2, i, None), f64::from(i as u32) * 0.2);
        }
        // Half the picture inverted (an IR switch changes contrast, not just brightness).
        let mut f = frame(100, 2, 99, None);
        for (i, v) in f.iter_mut().enumerate() {
            if i % W < W * 3 / 4 {
                *v = 200;
            }
        }
        let (a, c) = m.feed(&f, 2.0);
        assert!(a.global && !a.moving && c.is_none(), "{a:?}");
        // And the next frames of the same picture are quiet.
        let (a, _) = m.feed(&f, 2.2);
        assert!(!a.moving && a.changed_percent < 1.0, "{a:?}");
    }

    #[test]
    fn masked_motion_is_ignored_and_zones_count_alone() {
        let left = vec![[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]];
        let square_left = |t: f64| (t >= 2.0).then_some((4 + ((t - 2.0) * 4.0) as usize, 10, 8));
        let mut masked = Model::new(W, H, Params::default(), &[], std::slice::from_ref(&left));
        let changes = run(
            &mut masked,
            (0..40).map(|i| {
                let t = f64::from(i) * 0.2;
                (t, frame(100, 2, i as u64, square_left(t)))
            }),
        );
        assert!(changes.is_empty(), "{changes:?}");
        let mut zoned = Model::new(W, H, Params::default(), &[left], &[]);
        let changes = run(
            &mut zoned,
            (0..40).map(|i| {
                let t = f64::from(i) * 0.2;
                (t, frame(100, 2, i as u64, square_left(t)))
            }),
        );
        assert!(
            matches!(changes[..], [Change::Started { .. }]),
            "{changes:?}"
        );
    }

    #[test]
    fn short_blips_and_specks_are_not_motion() {
        let mut m = model();
        let mut frames: Vec<(f64, Vec<u8>)> = (0..20)
            .map(|i| (f64::from(i) * 0.2, frame(100, 2, i as u64, None)))
            .collect();
        // One frame with a square (shorter than min_secs), and 2×2 specks.
        frames[10].1 = frame(100, 2, 10, Some((20, 10, 8)));
        for f in &mut frames[12..16] {
            for (x, y) in [(3, 3), (40, 20), (60, 30)] {
                for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                    f.1[(y + dy) * W + x + dx] = 250;
                }
            }
        }
        let changes = run(&mut m, frames.into_iter());
        assert!(changes.is_empty(), "{changes:?}");
    }
}
