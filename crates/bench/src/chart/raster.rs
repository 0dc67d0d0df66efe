//! A tiny RGB raster: just enough drawing for `timeline.png`.
//!
//! Drawn by hand rather than with plotters: plotters needs system fonts or a TTF file for text,
//! and the repository commits no binary assets; `font8x8`'s public-domain font is compiled in.

use font8x8::legacy::BASIC_LEGACY;

/// An RGB colour.
pub(crate) type Rgb = [u8; 3];
/// A point in pixel coordinates, fractional until it is rasterised.
pub(crate) type Point = (f64, f64);

/// A pixel rectangle, `x0..x1` by `y0..y1` (ends exclusive).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Rect {
    pub(crate) x0: i64,
    pub(crate) y0: i64,
    pub(crate) x1: i64,
    pub(crate) y1: i64,
}

impl Rect {
    pub(crate) const fn new(x0: i64, y0: i64, x1: i64, y1: i64) -> Self {
        Self { x0, y0, x1, y1 }
    }

    fn contains(&self, x: i64, y: i64) -> bool {
        (self.x0..self.x1).contains(&x) && (self.y0..self.y1).contains(&y)
    }
}

/// An RGB image, row-major, 3 bytes per pixel.
pub(crate) struct Canvas {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
}

impl Canvas {
    pub(crate) fn new(width: u32, height: u32, background: Rgb) -> Self {
        let pixels = background.repeat(width as usize * height as usize);
        Self {
            width,
            height,
            pixels,
        }
    }

    fn bounds(&self) -> Rect {
        Rect::new(0, 0, self.width.into(), self.height.into())
    }

    fn index(&self, x: i64, y: i64) -> Option<usize> {
        let i = (y as usize * self.width as usize + x as usize) * 3;
        self.bounds().contains(x, y).then_some(i)
    }

    #[cfg(test)]
    pub(crate) fn get(&self, x: i64, y: i64) -> Option<Rgb> {
        let i = self.index(x, y)?;
        self.pixels[i..i + 3].try_into().ok()
    }

    /// Writes outside the image are dropped, so primitives may run over the edges.
    fn set(&mut self, x: i64, y: i64, color: Rgb) {
        if let Some(i) = self.index(x, y) {
            self.pixels[i..i + 3].copy_from_slice(&color);
        }
    }

    pub(crate) fn fill_rect(&mut self, r: Rect, color: Rgb) {
        // Clamped first, so a huge rectangle costs no more than the image.
        let b = self.bounds();
        for y in r.y0.max(0)..r.y1.min(b.y1) {
            for x in r.x0.max(0)..r.x1.min(b.x1) {
                self.set(x, y, color);
            }
        }
    }

    /// A `thick` x `thick` square with its top-left pixel at (x, y), cut to `clip`.
    fn dot(&mut self, x: i64, y: i64, thick: i64, clip: &Rect, color: Rgb) {
        let (x1, y1) = ((x + thick).min(clip.x1), (y + thick).min(clip.y1));
        self.fill_rect(Rect::new(x.max(clip.x0), y.max(clip.y0), x1, y1), color);
    }

    /// A straight line, clipped to `clip`.
    ///
    /// The segment is clipped in floating point before rasterising, so a value far off the axis
    /// costs nothing and Bresenham only ever walks pixels inside `clip`.
    pub(crate) fn line(&mut self, a: Point, b: Point, thick: i64, clip: &Rect, color: Rgb) {
        let Some((a, b)) = clip_segment(a, b, clip) else {
            return;
        };
        let (mut x, mut y) = (a.0.round() as i64, a.1.round() as i64);
        let (x1, y1) = (b.0.round() as i64, b.1.round() as i64);
        let (dx, dy) = ((x1 - x).abs(), -(y1 - y).abs());
        let (sx, sy) = ((x1 - x).signum(), (y1 - y).signum());
        let mut err = dx + dy;
        loop {
            self.dot(x, y, thick, clip, color);
            if x == x1 && y == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }

    /// A dashed horizontal line across `clip` at row `y`, starting with a dash at the left.
    pub(crate) fn dashed_hline(&mut self, y: i64, dash: i64, gap: i64, clip: &Rect, color: Rgb) {
        for x in (clip.x0..clip.x1).filter(|x| (x - clip.x0) % (dash + gap) < dash) {
            self.dot(x, y, 1, clip, color);
        }
    }

    /// Draws `text` with its top-left corner at (x, y); returns its width in pixels.
    pub(crate) fn text(&mut self, x: i64, y: i64, text: &str, scale: i64, color: Rgb) -> i64 {
        for (i, ch) in (0..).zip(text.chars()) {
            // The legacy table covers ASCII only.
            let ch = if ch.is_ascii() { ch } else { '?' };
            for (row, bits) in (0..).zip(BASIC_LEGACY[ch as usize]) {
                // Bit 0 is the leftmost pixel.
                for col in (0..8).filter(|col| bits >> col & 1 == 1) {
                    let (px, py) = (x + (i * 8 + col) * scale, y + row * scale);
                    self.fill_rect(Rect::new(px, py, px + scale, py + scale), color);
                }
            }
        }
        text_width(text, scale)
    }

    pub(crate) fn encode_png(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, self.width, self.height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        // Mostly flat colour compresses well anyway; Fast keeps debug-build tests quick.
        encoder.set_compression(png::Compression::Fast);
        // Into a Vec, with exactly width * height * 3 bytes, nothing can fail.
        let mut writer = encoder.write_header().expect("PNG header into memory");
        writer
            .write_image_data(&self.pixels)
            .expect("PNG data of the declared size");
        writer.finish().expect("PNG end into memory");
        out
    }
}

/// Width in pixels of `text` drawn at `scale`.
pub(crate) fn text_width(text: &str, scale: i64) -> i64 {
    text.chars().count() as i64 * 8 * scale
}

/// Liang-Barsky clipping of segment a-b to the pixel centres of `r`; `None` if it misses.
fn clip_segment(a: Point, b: Point, r: &Rect) -> Option<(Point, Point)> {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let (xmin, xmax) = (r.x0 as f64, (r.x1 - 1) as f64);
    let (ymin, ymax) = (r.y0 as f64, (r.y1 - 1) as f64);
    let (mut t0, mut t1) = (0.0_f64, 1.0_f64);
    for (p, q) in [
        (-dx, a.0 - xmin),
        (dx, xmax - a.0),
        (-dy, a.1 - ymin),
        (dy, ymax - a.1),
    ] {
        if p == 0.0 && q < 0.0 {
            return None;
        } else if p < 0.0 {
            t0 = t0.max(q / p);
        } else if p > 0.0 {
            t1 = t1.min(q / p);
        }
    }
    let (c, d) = (
        (a.0 + t0 * dx, a.1 + t0 * dy),
        (a.0 + t1 * dx, a.1 + t1 * dy),
    );
    // NaN (from infinite coordinates) fails every comparison, so it is rejected here too.
    let near = |p: Point| p.0 >= xmin - 0.5 && p.0 <= xmax + 0.5 && p.1 >= ymin - 0.5;
    let inside = |p: Point| near(p) && p.1 <= ymax + 0.5;
    (t0 <= t1 && inside(c) && inside(d)).then_some((c, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    const WHITE: Rgb = [255, 255, 255];

    fn painted(c: &Canvas) -> Vec<(i64, i64)> {
        let (w, h) = (i64::from(c.width), i64::from(c.height));
        let all = (0..h).flat_map(|y| (0..w).map(move |x| (x, y)));
        all.filter(|&(x, y)| c.get(x, y) != Some(WHITE)).collect()
    }

    #[test]
    fn text_sets_pixels_and_blank_sets_none() {
        let mut c = Canvas::new(64, 20, WHITE);
        assert_eq!(c.text(2, 2, "", 1, [0, 0, 0]), 0);
        assert_eq!(c.text(2, 2, "   ", 2, [0, 0, 0]), 48);
        assert!(painted(&c).is_empty());
        c.text(2, 2, "Ab", 1, [0, 0, 0]);
        let px = painted(&c);
        assert!(px.len() > 10, "{} pixels", px.len());
        assert!(px
            .iter()
            .all(|&(x, y)| (2..18).contains(&x) && (2..10).contains(&y)));
    }

    #[test]
    fn lines_stay_inside_the_clip_rectangle() {
        let mut c = Canvas::new(50, 50, WHITE);
        let (clip, blue) = (Rect::new(10, 10, 40, 40), [0, 0, 255]);
        c.line((-1e12, 25.0), (1e300, 25.0), 2, &clip, blue);
        c.line((0.0, 0.0), (50.0, 50.0), 1, &clip, blue);
        c.line(
            (f64::NEG_INFINITY, 1.0),
            (f64::INFINITY, 30.0),
            1,
            &clip,
            blue,
        );
        c.line((0.0, 5.0), (50.0, 5.0), 1, &clip, blue); // entirely above the clip
        let px = painted(&c);
        assert!(px.contains(&(10, 25)) && px.contains(&(39, 25)) && px.contains(&(20, 20)));
        assert!(px.iter().all(|&(x, y)| clip.contains(x, y)));
    }
}
