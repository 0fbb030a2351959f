//! Detection zones and masks: polygons of `[x, y]` points in 0..1 image coordinates, turned into
//! a per-pixel "counts" map at the analysis size.

/// A polygon: at least three `[x, y]` points, each coordinate in 0..1.
pub type Polygon = Vec<[f64; 2]>;

/// Checks polygons: at least 3 points each, coordinates in 0..1.
pub fn validate(polys: &[Polygon]) -> Result<(), String> {
    for (i, p) in polys.iter().enumerate() {
        if p.len() < 3 {
            return Err(format!(
                "polygon [{i}] needs at least 3 points (got {})",
                p.len()
            ));
        }
        for (j, [x, y]) in p.iter().enumerate() {
            if !(0.0..=1.0).contains(x) || !(0.0..=1.0).contains(y) {
                return Err(format!(
                    "point [{i}][{j}]: coordinates must be between 0 and 1 (got [{x}, {y}])"
                ));
            }
        }
    }
    Ok(())
}

/// Whether (x, y) is inside `poly` (even-odd rule).
fn inside(poly: &Polygon, x: f64, y: f64) -> bool {
    let mut odd = false;
    let n = poly.len();
    let mut j = n - 1;
    for i in 0..n {
        let ([xi, yi], [xj, yj]) = (poly[i], poly[j]);
        if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
            odd = !odd;
        }
        j = i;
    }
    odd
}

/// Which pixels of a `w`×`h` picture count: inside a zone (every pixel when there is none) and
/// outside every mask. Judged at each pixel's centre.
pub fn raster(w: usize, h: usize, zones: &[Polygon], masks: &[Polygon]) -> Vec<bool> {
    let mut out = Vec::with_capacity(w * h);
    for row in 0..h {
        let y = (row as f64 + 0.5) / h as f64;
        for col in 0..w {
            let x = (col as f64 + 0.5) / w as f64;
            let zoned = zones.is_empty() || zones.iter().any(|z| inside(z, x, y));
            out.push(zoned && !masks.iter().any(|m| inside(m, x, y)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn left_half() -> Polygon {
        vec![[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]
    }

    #[test]
    fn masks_cut_out_and_zones_keep_in() {
        let r = raster(4, 2, &[], &[left_half()]);
        assert_eq!(r, [false, false, true, true, false, false, true, true]);
        let r = raster(4, 2, &[left_half()], &[]);
        assert_eq!(r, [true, true, false, false, true, true, false, false]);
        let all = raster(3, 3, &[], &[]);
        assert!(all.iter().all(|b| *b));
        // A triangle: the lower-left half.
        let tri = vec![[0.0, 0.0], [1.0, 1.0], [0.0, 1.0]];
        let r = raster(2, 2, &[tri], &[]);
        assert_eq!(r, [false, false, true, false]);
    }

    #[test]
    fn bad_polygons_say_where() {
        assert!(validate(&[left_half()]).is_ok());
        let e = validate(&[vec![[0.0, 0.0], [1.0, 1.0]]]).unwrap_err();
        assert!(e.starts_with("polygon [0] needs at least 3 points"), "{e}");
        let e = validate(&[vec![[0.0, 0.0], [1.5, 0.0], [0.0, 1.0]]]).unwrap_err();
        assert!(e.starts_with("point [0][1]: "), "{e}");
    }
}
