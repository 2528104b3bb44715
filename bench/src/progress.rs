//! Progress of a phase: an indicatif bar on a terminal, one plain line per
//! phase otherwise. Everything goes to stderr; stdout carries the table.

use std::io::IsTerminal;
use std::sync::OnceLock;

use indicatif::{ProgressBar, ProgressStyle};

/// Operations between two updates of the bar, so that counting costs nothing.
pub const TICK: u64 = 1024;

fn on_terminal() -> bool {
    static TTY: OnceLock<bool> = OnceLock::new();
    *TTY.get_or_init(|| std::io::stderr().is_terminal())
}

/// The progress of one phase of one engine. `Sync`: threads share it.
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Starts showing `phase` of `engine`, which will do `total` operations.
    pub fn start(engine: &str, phase: &str, total: u64) -> Self {
        let bar = on_terminal().then(|| {
            let style = ProgressStyle::with_template(
                "{prefix:>12} {msg:<28} [{bar:30}] {human_pos:>10}/{human_len:<10} {per_sec:>14} {elapsed}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            let bar = ProgressBar::new(total).with_style(style);
            bar.set_prefix(engine.to_string());
            bar.set_message(phase.to_string());
            bar
        });
        Self { bar }
    }

    /// Records `n` more operations done.
    pub fn inc(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    /// Ends the phase with its result line.
    pub fn finish(self, line: &str) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
        eprintln!("{line}");
    }
}
