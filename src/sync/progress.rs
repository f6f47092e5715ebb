//! One spinner per sync phase, drawn only on a terminal (and never under `-q`);
//! elsewhere phases are silent except for `-v` timing lines.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::printer::Printer;

/// A running phase; call [`Phase::finish`] when it is done.
pub struct Phase {
    bar: Option<ProgressBar>,
    label: String,
    started: Instant,
}

impl Phase {
    /// Start a phase with a spinner labelled `label`.
    pub fn start(label: String) -> Phase {
        let bar = Printer::get().progress_enabled().then(|| {
            let bar = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
                bar.set_style(style);
            }
            bar.set_message(label.clone());
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        Phase {
            bar,
            label,
            started: Instant::now(),
        }
    }

    /// End the phase, clearing its spinner.
    pub fn finish(self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        crate::printer::verbose(format!(
            "{} took {} ms",
            self.label,
            self.started.elapsed().as_millis()
        ));
    }
}

impl Drop for Phase {
    fn drop(&mut self) {
        // A phase that failed still must not leave its spinner on screen.
        if let Some(bar) = &self.bar
            && !bar.is_finished()
        {
            bar.finish_and_clear();
        }
    }
}
