//! Upload size against the Workers limits (3 MB free / 10 MB paid, after
//! gzip), with a per-package table of the largest contributors, since
//! vendored packages are what push Python Workers over the limit.

use std::collections::BTreeMap;
use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;

use super::bundle::{Bundle, Module};

/// Free-plan limit on the gzipped upload.
pub const FREE_LIMIT: u64 = 3 * 1024 * 1024;
/// Paid-plan limit on the gzipped upload.
pub const PAID_LIMIT: u64 = 10 * 1024 * 1024;

/// Sizes of one group of modules (a vendored package or the Worker's own code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSize {
    pub name: String,
    pub files: usize,
    pub size: u64,
    pub gzip: u64,
}

/// Sizes of the whole upload.
#[derive(Debug, Clone)]
pub struct SizeReport {
    pub modules: usize,
    pub total: u64,
    /// Sum of each module's gzip size (what the API measures, to within a few bytes per file).
    pub gzip: u64,
    /// Groups, largest gzip first.
    pub groups: Vec<GroupSize>,
}

/// The name under which the Worker's own modules are grouped.
pub const WORKER_GROUP: &str = "(worker code)";

impl SizeReport {
    /// Gzip every module (in parallel) and group the sizes by package.
    pub fn measure(bundle: &Bundle) -> SizeReport {
        let gz = gzip_sizes(&bundle.modules);
        let mut groups: BTreeMap<String, GroupSize> = BTreeMap::new();
        for (m, gzip) in bundle.modules.iter().zip(gz.iter()) {
            let name = group_of(&m.name);
            let g = groups.entry(name.clone()).or_insert(GroupSize {
                name,
                files: 0,
                size: 0,
                gzip: 0,
            });
            g.files += 1;
            g.size += m.content.len() as u64;
            g.gzip += gzip;
        }
        let mut groups: Vec<GroupSize> = groups.into_values().collect();
        groups.sort_by(|a, b| b.gzip.cmp(&a.gzip).then(a.name.cmp(&b.name)));
        SizeReport {
            modules: bundle.modules.len(),
            total: bundle.total_size(),
            gzip: gz.iter().sum(),
            groups,
        }
    }

    /// Which limit the upload exceeds, if any.
    pub fn over_limit(&self) -> Option<&'static str> {
        if self.gzip > PAID_LIMIT {
            Some("paid (10 MB)")
        } else if self.gzip > FREE_LIMIT {
            Some("free (3 MB)")
        } else {
            None
        }
    }

    /// Human-readable report with the top `top` groups.
    pub fn render(&self, top: usize) -> String {
        let mut out = format!(
            "Total upload: {} modules, {} / gzip: {} ({:.0}% of the 3 MB free limit, {:.0}% of the 10 MB paid limit)\n",
            self.modules,
            human(self.total),
            human(self.gzip),
            self.gzip as f64 * 100.0 / FREE_LIMIT as f64,
            self.gzip as f64 * 100.0 / PAID_LIMIT as f64,
        );
        let width = self
            .groups
            .iter()
            .take(top)
            .map(|g| g.name.len())
            .max()
            .unwrap_or(7)
            .max(7);
        out.push_str(&format!(
            "  {:<width$}  {:>6}  {:>10}  {:>10}  {:>6}\n",
            "package", "files", "size", "gzip", "share"
        ));
        for g in self.groups.iter().take(top) {
            let share = if self.gzip == 0 {
                0.0
            } else {
                g.gzip as f64 * 100.0 / self.gzip as f64
            };
            out.push_str(&format!(
                "  {:<width$}  {:>6}  {:>10}  {:>10}  {:>5.1}%\n",
                g.name,
                g.files,
                human(g.size),
                human(g.gzip),
                share
            ));
        }
        if self.groups.len() > top {
            let rest = &self.groups[top..];
            out.push_str(&format!(
                "  {:<width$}  {:>6}  {:>10}  {:>10}\n",
                format!("({} more)", rest.len()),
                rest.iter().map(|g| g.files).sum::<usize>(),
                human(rest.iter().map(|g| g.size).sum()),
                human(rest.iter().map(|g| g.gzip).sum()),
            ));
        }
        out
    }
}

/// `python_modules/<pkg>/...` → `pkg` (dist-info folded into its package);
/// everything else is the Worker's own code.
fn group_of(name: &str) -> String {
    let Some(rest) = name.strip_prefix("python_modules/") else {
        return WORKER_GROUP.to_string();
    };
    let first = rest.split('/').next().unwrap_or(rest);
    let base = if let Some(d) = first.strip_suffix(".dist-info") {
        d.split('-').next().unwrap_or(d).to_string()
    } else if rest.contains('/') {
        first.to_string()
    } else {
        // A top-level file: `six.py`, `_cffi_backend.cpython-313-wasm32-emscripten.so`.
        first.split('.').next().unwrap_or(first).to_string()
    };
    base.to_ascii_lowercase().replace('-', "_")
}

/// Gzip size of each module, spread over the available cores.
fn gzip_sizes(modules: &[Module]) -> Vec<u64> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(8);
    let mut sizes = vec![0u64; modules.len()];
    // Interleave modules over threads so large packages spread out.
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    modules
                        .iter()
                        .enumerate()
                        .skip(t)
                        .step_by(threads)
                        .map(|(i, m)| (i, gzip_len(&m.content)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            if let Ok(part) = h.join() {
                for (i, n) in part {
                    sizes[i] = n;
                }
            }
        }
    });
    sizes
}

fn gzip_len(data: &[u8]) -> u64 {
    let mut enc = GzEncoder::new(CountingSink(0), Compression::default());
    // Writing to a counting sink cannot fail.
    let _ = enc.write_all(data);
    enc.finish().map(|s| s.0).unwrap_or(data.len() as u64)
}

/// A writer that only counts bytes.
struct CountingSink(u64);

impl Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `1.23 MiB`-style sizes.
pub fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1024.0 * 1024.0 {
        format!("{:.2} MiB", b / 1024.0 / 1024.0)
    } else {
        format!("{:.2} KiB", b / 1024.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::bundle::ModuleKind;

    fn module(name: &str, content: &[u8]) -> Module {
        Module {
            name: name.into(),
            kind: ModuleKind::Data,
            content: content.into(),
        }
    }

    #[test]
    fn groups_by_package() {
        assert_eq!(group_of("entry.py"), WORKER_GROUP);
        assert_eq!(group_of("python_modules/numpy/core/x.so"), "numpy");
        assert_eq!(
            group_of("python_modules/Jinja2-3.1.dist-info/RECORD"),
            "jinja2"
        );
        assert_eq!(group_of("python_modules/six.py"), "six");
    }

    #[test]
    fn measures_and_sorts() {
        let big = vec![b'a'; 100_000];
        let noise: Vec<u8> = (0..50_000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let bundle = Bundle {
            modules: vec![
                module("entry.py", b"print(1)"),
                module("python_modules/a/x.py", &big),
                module("python_modules/b/y.bin", &noise),
            ],
            ignored_duplicates: vec![],
        };
        let r = SizeReport::measure(&bundle);
        assert_eq!(r.total, 150_008);
        assert!(r.gzip < r.total);
        assert_eq!(
            r.groups[0].name, "b",
            "incompressible data is the biggest contributor"
        );
        assert!(r.render(10).contains("(worker code)"));
        assert!(r.over_limit().is_none());
    }
}
