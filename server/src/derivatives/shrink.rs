//! Area-averaging downscale: every output pixel is the coverage-weighted mean of the source
//! pixels under it (alias-free for reductions, which is all a derivative ever is), separable,
//! in 12-bit fixed point. Rows first (whole rows at a time, which vectorises), then columns on
//! the already fewer rows, streaming one intermediate row; RGB columns are summed with the
//! three channels packed in one `u64`.

use image::imageops::FilterType;
use image::{DynamicImage, ImageBuffer};

/// `image` shrunk so its long side is at most `long_side`; `None` when it already fits (never
/// enlarges).
pub fn fit_within(image: &DynamicImage, long_side: u32) -> Option<DynamicImage> {
    let (w, h) = (image.width(), image.height());
    if w.max(h) <= long_side {
        return None;
    }
    let (nw, nh) = fitted_size(w, h, long_side);
    Some(match image {
        DynamicImage::ImageRgb8(rgb) => DynamicImage::ImageRgb8(shrink(rgb, nw, nh)),
        DynamicImage::ImageLuma8(gray) => DynamicImage::ImageLuma8(shrink(gray, nw, nh)),
        other => other.resize_exact(nw, nh, FilterType::Triangle),
    })
}

/// The size a `width`×`height` picture has once fitted within `long_side` (unchanged when it
/// fits already): what [`fit_within`] makes.
pub fn fitted_size(width: u32, height: u32, long_side: u32) -> (u32, u32) {
    let long = width.max(height);
    if long <= long_side {
        return (width, height);
    }
    let scale = |v: u32| {
        ((u64::from(v) * u64::from(long_side) + u64::from(long) / 2) / u64::from(long)).max(1)
            as u32
    };
    (scale(width), scale(height))
}

fn shrink<P>(image: &ImageBuffer<P, Vec<u8>>, width: u32, height: u32) -> ImageBuffer<P, Vec<u8>>
where
    P: image::Pixel<Subpixel = u8> + 'static,
{
    let fallback = || image::imageops::thumbnail(image, width, height);
    let channels = usize::from(P::CHANNEL_COUNT);
    let (sw, sh) = (image.width() as usize, image.height() as usize);
    let (dw, dh) = (width.max(1) as usize, height.max(1) as usize);
    if sw == 0 || sh == 0 {
        return fallback();
    }
    let src = image.as_raw();
    let src_row_len = sw * channels;
    let out_row_len = dw * channels;
    let rows = Taps::new(sh, dh);
    let columns = Taps::new(sw, dw);
    let mut acc = vec![0u32; if rows.taps > 5 { src_row_len } else { 0 }];
    let mut mid = vec![0u8; src_row_len];
    let mut packed = vec![0u64; if channels == 3 { sw } else { 0 }];
    let mut out = vec![0u8; dh * out_row_len];
    for (y, out_row) in out.chunks_exact_mut(out_row_len).enumerate() {
        // Vertical: the weighted sum of the source rows under output row `y`.
        let first = rows.starts[y];
        let weights = rows.weights_of(y);
        let band = &src[first * src_row_len..(first + rows.taps) * src_row_len];
        match rows.taps {
            1 => shrink_column_taps::<1>(band, weights, &mut mid),
            2 => shrink_column_taps::<2>(band, weights, &mut mid),
            3 => shrink_column_taps::<3>(band, weights, &mut mid),
            4 => shrink_column_taps::<4>(band, weights, &mut mid),
            5 => shrink_column_taps::<5>(band, weights, &mut mid),
            _ => {
                acc.fill(1u32 << (WEIGHT_BITS - 1));
                for (row, &w) in band.chunks_exact(src_row_len).zip(weights) {
                    for (a, &v) in acc.iter_mut().zip(row) {
                        *a += u32::from(v) * u32::from(w);
                    }
                }
                for (m, &a) in mid.iter_mut().zip(&acc) {
                    *m = to_u8(a);
                }
            }
        }
        // Horizontal, within that one row.
        match channels {
            1 => shrink_row::<1>(&mid, out_row, &columns),
            2 => shrink_row::<2>(&mid, out_row, &columns),
            3 => shrink_rgb_row(&mid, &mut packed, out_row, &columns),
            4 => shrink_row::<4>(&mid, out_row, &columns),
            _ => return fallback(),
        }
    }
    ImageBuffer::from_raw(dw as u32, dh as u32, out).unwrap_or_else(fallback)
}

/// One row of the vertical pass with `T` taps: `band` is the `T` source rows under the output
/// row, `mid` gets their weighted sum (one pass, no accumulator row).
fn shrink_column_taps<const T: usize>(band: &[u8], weights: &[u16], mid: &mut [u8]) {
    let len = mid.len();
    let rows: [&[u8]; T] = std::array::from_fn(|t| &band[t * len..(t + 1) * len]);
    let weights: [u32; T] = std::array::from_fn(|t| u32::from(weights[t]));
    for (i, m) in mid.iter_mut().enumerate() {
        let mut sum = 1u32 << (WEIGHT_BITS - 1);
        for t in 0..T {
            sum += u32::from(rows[t][i]) * weights[t];
        }
        *m = to_u8(sum);
    }
}

/// Bits per channel in a packed RGB pixel: a channel's weighted sum (at most
/// `255 << WEIGHT_BITS` plus the rounding half) fits, so the channels never carry into each other.
const LANE_BITS: u32 = 21;
const _: () = assert!((255 << WEIGHT_BITS) + (1 << (WEIGHT_BITS - 1)) < 1 << LANE_BITS);
const _: () = assert!(3 * LANE_BITS <= 64);

/// Shrinks one row of RGB pixels with the channels packed in one `u64` each: one multiply per
/// tap instead of three.
fn shrink_rgb_row(src: &[u8], packed: &mut [u64], dst: &mut [u8], columns: &Taps) {
    for (to, p) in packed.iter_mut().zip(src.chunks_exact(3)) {
        *to = u64::from(p[0]) | u64::from(p[1]) << LANE_BITS | u64::from(p[2]) << (2 * LANE_BITS);
    }
    match columns.taps {
        1 => shrink_packed_taps::<1>(packed, dst, columns),
        2 => shrink_packed_taps::<2>(packed, dst, columns),
        3 => shrink_packed_taps::<3>(packed, dst, columns),
        4 => shrink_packed_taps::<4>(packed, dst, columns),
        5 => shrink_packed_taps::<5>(packed, dst, columns),
        _ => shrink_row_any::<3>(src, dst, columns),
    }
}

fn shrink_packed_taps<const T: usize>(packed: &[u64], dst: &mut [u8], columns: &Taps) {
    let half = 1u64 << (WEIGHT_BITS - 1);
    let rounding = half | half << LANE_BITS | half << (2 * LANE_BITS);
    for ((out, &start), weights) in dst
        .chunks_exact_mut(3)
        .zip(&columns.starts)
        .zip(columns.weights.chunks_exact(T))
    {
        let pixels = &packed[start..start + T];
        let mut acc = rounding;
        for t in 0..T {
            acc += pixels[t] * u64::from(weights[t]);
        }
        for (c, byte) in out.iter_mut().enumerate() {
            // Each lane is at most 255 after the shift (see `to_u8`).
            *byte = (acc >> (c as u32 * LANE_BITS + WEIGHT_BITS)) as u8;
        }
    }
}

/// Shrinks one row of `C`-channel pixels (the tap count fixed at compile time where it is small,
/// which lets the compiler unroll the loops and drop the bounds checks).
fn shrink_row<const C: usize>(src: &[u8], dst: &mut [u8], columns: &Taps) {
    match columns.taps {
        1 => shrink_row_taps::<C, 1>(src, dst, columns),
        2 => shrink_row_taps::<C, 2>(src, dst, columns),
        3 => shrink_row_taps::<C, 3>(src, dst, columns),
        4 => shrink_row_taps::<C, 4>(src, dst, columns),
        5 => shrink_row_taps::<C, 5>(src, dst, columns),
        _ => shrink_row_any::<C>(src, dst, columns),
    }
}

fn shrink_row_taps<const C: usize, const T: usize>(src: &[u8], dst: &mut [u8], columns: &Taps) {
    for ((out, &start), weights) in dst
        .chunks_exact_mut(C)
        .zip(&columns.starts)
        .zip(columns.weights.chunks_exact(T))
    {
        let pixels = &src[start * C..start * C + T * C];
        let mut acc = [1u32 << (WEIGHT_BITS - 1); C];
        for t in 0..T {
            for c in 0..C {
                acc[c] += u32::from(pixels[t * C + c]) * u32::from(weights[t]);
            }
        }
        for c in 0..C {
            out[c] = to_u8(acc[c]);
        }
    }
}

fn shrink_row_any<const C: usize>(src: &[u8], dst: &mut [u8], columns: &Taps) {
    let taps = columns.taps;
    for ((out, &start), weights) in dst
        .chunks_exact_mut(C)
        .zip(&columns.starts)
        .zip(columns.weights.chunks_exact(taps))
    {
        let pixels = &src[start * C..(start + taps) * C];
        let mut acc = [1u32 << (WEIGHT_BITS - 1); C];
        for (pixel, &w) in pixels.chunks_exact(C).zip(weights) {
            for c in 0..C {
                acc[c] += u32::from(pixel[c]) * u32::from(w);
            }
        }
        for c in 0..C {
            out[c] = to_u8(acc[c]);
        }
    }
}

/// Area weights laid out for speed: every output position has the same number of taps
/// (`taps`, zero-padded), starting at `starts[d]`, and `starts[d] + taps` never passes the end
/// of the source.
struct Taps {
    taps: usize,
    starts: Vec<usize>,
    weights: Vec<u16>,
}

impl Taps {
    fn new(src: usize, dst: usize) -> Self {
        let exact = area_weights(src, dst);
        let taps = exact
            .iter()
            .map(|(_, w)| w.len())
            .max()
            .unwrap_or(1)
            .clamp(1, src.max(1));
        let mut starts = Vec::with_capacity(dst);
        let mut weights = vec![0u16; dst * taps];
        for (d, (first, exact)) in exact.iter().enumerate() {
            let start = (*first).min(src.saturating_sub(taps));
            let offset = d * taps + (first - start);
            for (to, &w) in weights[offset..offset + exact.len()].iter_mut().zip(exact) {
                // At most `1 << WEIGHT_BITS`, which fits.
                *to = u16::try_from(w).unwrap_or(u16::MAX);
            }
            starts.push(start);
        }
        Self {
            taps,
            starts,
            weights,
        }
    }

    fn weights_of(&self, d: usize) -> &[u16] {
        &self.weights[d * self.taps..(d + 1) * self.taps]
    }
}

const WEIGHT_BITS: u32 = 12;

/// A fixed-point sum back to a byte. The weights of every output sum to exactly
/// `1 << WEIGHT_BITS` and the sums start at half of that (rounding), so the result is at most
/// 255 + ½ before the shift: no clamping needed. 16-bit weights (products of u8 × u16) let the
/// compiler multiply eight lanes at once with SSE2. 12 bits (steps of 1/4096) are plenty for
/// 8-bit pixels and leave room to pack RGB in one `u64`.
fn to_u8(sum: u32) -> u8 {
    (sum >> WEIGHT_BITS) as u8
}

/// For each of `dst` output positions: the first source index and the fixed-point weights
/// (summing to `1 << WEIGHT_BITS`) of the source pixels it covers.
fn area_weights(src: usize, dst: usize) -> Vec<(usize, Vec<u32>)> {
    let scale = src as f64 / dst as f64;
    (0..dst)
        .map(|d| {
            let lo = d as f64 * scale;
            let hi = ((d + 1) as f64 * scale).min(src as f64);
            let first = lo.floor() as usize;
            let last = (hi.ceil() as usize).clamp(first + 1, src);
            let mut weights: Vec<f64> = (first..last)
                .map(|s| ((s + 1) as f64).min(hi) - (s as f64).max(lo))
                .map(|w| w.max(0.0))
                .collect();
            let total: f64 = weights.iter().sum::<f64>().max(f64::MIN_POSITIVE);
            weights.iter_mut().for_each(|w| *w /= total);
            let mut fixed: Vec<u32> = weights
                .iter()
                .map(|w| (w * f64::from(1u32 << WEIGHT_BITS)).round() as u32)
                .collect();
            // Make the weights sum exactly to one so flat areas stay flat.
            let sum: u32 = fixed.iter().sum();
            if let Some(max) = fixed.iter_mut().max() {
                *max = (*max + (1 << WEIGHT_BITS)).saturating_sub(sum);
            }
            (first, fixed)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    #[test]
    fn shrink_averages_areas_and_keeps_flat_colours() {
        // Left half black, right half white: the middle column of the result is grey, the
        // outer ones keep their colour, and a flat image stays exactly flat.
        let image = RgbImage::from_fn(40, 10, |x, _| {
            if x < 20 {
                Rgb([0, 0, 0])
            } else {
                Rgb([255, 255, 255])
            }
        });
        let small = shrink(&image, 3, 1);
        assert_eq!(small.get_pixel(0, 0).0, [0, 0, 0]);
        assert_eq!(small.get_pixel(2, 0).0, [255, 255, 255]);
        let mid = small.get_pixel(1, 0).0[0];
        assert!((120..=135).contains(&mid), "{mid}");
        let flat = RgbImage::from_pixel(333, 77, Rgb([10, 200, 99]));
        let out = shrink(&flat, 100, 23);
        assert!(out.pixels().all(|p| p.0 == [10, 200, 99]));
    }

    #[test]
    fn fit_within_never_enlarges_and_keeps_the_aspect() {
        let image = DynamicImage::ImageRgb8(RgbImage::new(3000, 2000));
        let fitted = fit_within(&image, 1280).unwrap();
        assert_eq!((fitted.width(), fitted.height()), (1280, 853));
        assert!(fit_within(&DynamicImage::ImageRgb8(RgbImage::new(300, 200)), 320).is_none());
    }
}
