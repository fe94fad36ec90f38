//! The sweep plot: two panels, server CPU per node (mcores) and peak RSS per node (MiB)
//! against the node count (log scale), ours and, from a `--peer` sweep, the peer's beside it,
//! with the CPU target as a dashed line. Drawn on an RGB canvas with
//! a built-in 5×7 font and written by png.rs: no plotting or font crates.

use std::path::Path;

use anyhow::Context;

use super::report::Report;

const WIDTH: usize = 960;
const HEIGHT: usize = 400;
const WHITE: [u8; 3] = [255, 255, 255];
const BLACK: [u8; 3] = [0, 0, 0];
const GREY: [u8; 3] = [200, 200, 200];
const BLUE: [u8; 3] = [31, 119, 180];
const ORANGE: [u8; 3] = [255, 127, 14];
const RED: [u8; 3] = [214, 39, 40];
const PURPLE: [u8; 3] = [148, 103, 189];
const BROWN: [u8; 3] = [140, 86, 75];

/// One line of a panel.
struct Series {
    label: &'static str,
    points: Vec<(f64, f64)>,
    color: [u8; 3],
}

/// Writes the sweep plot of `reports` to `path`.
pub fn sweep_png(reports: &[Report], path: &Path) -> anyhow::Result<()> {
    let canvas = draw(reports);
    let png = super::png::encode_rgb(WIDTH as u32, HEIGHT as u32, &canvas.pixels)
        .context("encoding the plot as PNG")?;
    std::fs::write(path, png).with_context(|| format!("writing {}", path.display()))
}

fn draw(reports: &[Report]) -> Canvas {
    let mut canvas = Canvas::new(WIDTH, HEIGHT);
    let ours = |f: fn(&Report) -> f64| -> Vec<(f64, f64)> {
        reports.iter().map(|r| (r.nodes as f64, f(r))).collect()
    };
    let peer = |f: fn(&Report) -> f64| -> Vec<(f64, f64)> {
        let per_node = |r: &Report, p: &Report| f(p) / r.nodes.max(1) as f64;
        reports
            .iter()
            .filter_map(|r| Some((r.nodes as f64, per_node(r, r.peer.as_deref()?))))
            .collect()
    };
    let cpu = [
        Series {
            label: "OURS",
            points: ours(|r| r.server_cpu_mcores_per_node),
            color: BLUE,
        },
        Series {
            label: "PEER",
            points: peer(|p| p.server_cpu_mcores),
            color: PURPLE,
        },
    ];
    let rss = [
        Series {
            label: "OURS",
            points: ours(|r| r.rss_mib_per_node),
            color: ORANGE,
        },
        Series {
            label: "PEER",
            points: peer(|p| p.server_rss_mib),
            color: BROWN,
        },
    ];
    canvas.panel(0, "SERVER CPU PER NODE (MCORES)", &cpu, Some(0.05));
    canvas.panel(WIDTH / 2, "PEAK RSS PER NODE (MIB)", &rss, None);
    canvas
}

struct Canvas {
    width: usize,
    height: usize,
    pixels: Vec<u8>,
}

impl Canvas {
    fn new(width: usize, height: usize) -> Self {
        Canvas {
            width,
            height,
            pixels: WHITE.repeat(width * height),
        }
    }

    fn set(&mut self, x: i64, y: i64, color: [u8; 3]) {
        if x < 0 || y < 0 || x as usize >= self.width || y as usize >= self.height {
            return;
        }
        let i = (y as usize * self.width + x as usize) * 3;
        self.pixels[i..i + 3].copy_from_slice(&color);
    }

    /// A line by Bresenham; `dash` > 0 draws `dash` pixels on, `dash` off.
    fn line(&mut self, (x0, y0): (i64, i64), (x1, y1): (i64, i64), color: [u8; 3], dash: i64) {
        let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
        let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
        let (mut x, mut y, mut err, mut step) = (x0, y0, dx + dy, 0i64);
        loop {
            if dash == 0 || (step / dash) % 2 == 0 {
                self.set(x, y, color);
                self.set(x, y + 1, color);
            }
            step += 1;
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

    fn text(&mut self, x: i64, y: i64, text: &str, color: [u8; 3]) {
        for (i, c) in text.chars().enumerate() {
            let rows = glyph(c.to_ascii_uppercase());
            for (r, bits) in rows.iter().enumerate() {
                for col in 0..5 {
                    if bits & (0x10 >> col) != 0 {
                        let (px, py) = (x + i as i64 * 12 + col * 2, y + r as i64 * 2);
                        for (ox, oy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                            self.set(px + ox, py + oy, color);
                        }
                    }
                }
            }
        }
    }

    /// One panel at horizontal offset `left`: axes, ticks, the series, an optional target.
    fn panel(&mut self, left: usize, title: &str, series: &[Series], target: Option<f64>) {
        let points: Vec<(f64, f64)> = series.iter().flat_map(|s| s.points.clone()).collect();
        let points = points.as_slice();
        let (x0, x1) = (left as i64 + 90, (left + WIDTH / 2) as i64 - 40);
        let (y0, y1) = (HEIGHT as i64 - 50, 50i64);
        self.text(left as i64 + 20, 15, title, BLACK);
        // Node counts span decades: a logarithmic x axis with a margin on both ends.
        let max_x = points.iter().map(|p| p.0).fold(1.0, f64::max) * 1.25;
        let min_x = points.iter().map(|p| p.0).fold(max_x, f64::min).max(1.0) / 1.25;
        let max_y = points
            .iter()
            .map(|p| p.1)
            .chain(target)
            .fold(1e-9, f64::max)
            * 1.15;
        let span = (max_x.ln() - min_x.ln()).max(1e-9);
        let px = |x: f64| x0 + (((x.max(1.0).ln() - min_x.ln()) / span) * (x1 - x0) as f64) as i64;
        let py = |y: f64| y0 - ((y / max_y) * (y0 - y1) as f64) as i64;
        for i in 0..=4 {
            let v = max_y * f64::from(i) / 4.0;
            self.line((x0, py(v)), (x1, py(v)), GREY, 0);
            self.text(left as i64 + 4, py(v) - 7, &format_value(v), BLACK);
        }
        self.line((x0, y0), (x1, y0), BLACK, 0);
        self.line((x0, y0), (x0, y1), BLACK, 0);
        for &(x, _) in points {
            self.line((px(x), y0), (px(x), y0 + 6), BLACK, 0);
            let label = format!("{x:.0}");
            self.text(px(x) - label.len() as i64 * 6, y0 + 12, &label, BLACK);
        }
        self.text((x0 + x1) / 2 - 66, y0 + 32, "NODES (LOG)", BLACK);
        if let Some(t) = target {
            self.line((x0, py(t)), (x1, py(t)), RED, 6);
            self.text(x1 - 84, py(t) - 18, "TARGET", RED);
        }
        let drawn = series.iter().filter(|s| !s.points.is_empty());
        for (n, s) in drawn.enumerate() {
            for pair in s.points.windows(2) {
                self.line(
                    (px(pair[0].0), py(pair[0].1)),
                    (px(pair[1].0), py(pair[1].1)),
                    s.color,
                    0,
                );
            }
            for &(x, y) in &s.points {
                for d in -3..=3 {
                    self.line((px(x) - 3, py(y) + d), (px(x) + 3, py(y) + d), s.color, 0);
                }
            }
            self.text(x1 - 60, y1 + 20 * n as i64, s.label, s.color);
        }
    }

    /// Whether any pixel has `color`.
    #[cfg(test)]
    fn has(&self, color: [u8; 3]) -> bool {
        self.pixels.chunks_exact(3).any(|p| p == color)
    }
}

fn format_value(v: f64) -> String {
    if v == 0.0 {
        "0".to_string()
    } else if v < 0.01 {
        format!("{v:.4}")
    } else if v < 1.0 {
        format!("{v:.3}")
    } else {
        format!("{v:.1}")
    }
}

/// Rows of a 5×7 glyph, most significant of the 5 low bits on the left.
fn glyph(c: char) -> [u8; 7] {
    match c {
        '0' => [0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e],
        '1' => [0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e],
        '2' => [0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f],
        '3' => [0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e],
        '4' => [0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02],
        '5' => [0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e],
        '6' => [0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e],
        '7' => [0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e],
        '9' => [0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c],
        'A' => [0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11],
        'B' => [0x1e, 0x11, 0x11, 0x1e, 0x11, 0x11, 0x1e],
        'C' => [0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e],
        'D' => [0x1c, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1c],
        'E' => [0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f],
        'F' => [0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10],
        'G' => [0x0e, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0f],
        'H' => [0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11],
        'I' => [0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f],
        'M' => [0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e],
        'P' => [0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10],
        'Q' => [0x0e, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0d],
        'R' => [0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11],
        'S' => [0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e],
        'T' => [0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0a, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0a],
        'X' => [0x11, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x11, 0x0a, 0x04, 0x04, 0x04],
        'Z' => [0x1f, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1f],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c],
        '(' => [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
        ')' => [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
        '-' => [0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00],
        '/' => [0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00],
        _ => [0; 7],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_png_with_the_series_drawn() {
        let reports: Vec<Report> = [(500, 0.02, 0.03), (1000, 0.015, 0.025)]
            .iter()
            .map(|&(nodes, cpu, rss)| Report {
                nodes,
                server_cpu_mcores_per_node: cpu,
                rss_mib_per_node: rss,
                ..Report::default()
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sweep.png");
        sweep_png(&reports, &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.starts_with(b"\x89PNG"));
        assert!(bytes.len() > WIDTH * HEIGHT * 3, "uncompressed RGB");
    }

    #[test]
    fn a_peer_sweep_draws_both_servers() {
        let report = |nodes, cpu: f64, peer: Option<Report>| Report {
            nodes,
            server_cpu_mcores_per_node: cpu / nodes as f64,
            rss_mib_per_node: 0.03,
            peer: peer.map(Box::new),
            ..Report::default()
        };
        let theirs = |cpu| Report {
            server_cpu_mcores: cpu,
            server_rss_mib: 100.0,
            ..Report::default()
        };
        let alone = draw(&[report(500, 10.0, None), report(1000, 15.0, None)]);
        assert!(alone.has(BLUE) && alone.has(ORANGE));
        assert!(!alone.has(PURPLE) && !alone.has(BROWN));
        let both = draw(&[
            report(500, 10.0, Some(theirs(40.0))),
            report(1000, 15.0, Some(theirs(70.0))),
        ]);
        assert!(both.has(BLUE) && both.has(PURPLE) && both.has(ORANGE) && both.has(BROWN));
    }
}
