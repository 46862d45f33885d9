//! Progress bars on standard error, drawn only when it is a terminal (so
//! pipes, files and CI logs stay clean), through one small type that any
//! command can use: a byte bar around a reader ([`Progress::wrap_read`]) or
//! a step counter ([`Progress::inc`]).

use std::io::{IsTerminal, Read};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar, or nothing when standard error is not a terminal.
#[derive(Clone, Debug)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A progress bar that never draws.
    pub fn hidden() -> Progress {
        Progress {
            bar: ProgressBar::hidden(),
        }
    }

    fn on_terminal(bar: ProgressBar) -> Progress {
        if std::io::stderr().is_terminal() {
            bar.set_draw_target(ProgressDrawTarget::stderr());
        } else {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        Progress { bar }
    }

    /// A bar of bytes read, out of `total` if known, labelled `label`.
    pub fn bytes(label: &str, total: Option<u64>) -> Progress {
        let (bar, template) = match total {
            Some(total) => (
                ProgressBar::new(total),
                "{prefix} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left)",
            ),
            None => (
                ProgressBar::no_length(),
                "{prefix} {spinner} {bytes} ({bytes_per_sec})",
            ),
        };
        let style = ProgressStyle::with_template(template).expect("a valid template");
        bar.set_style(style.progress_chars("=> "));
        bar.set_prefix(label.to_owned());
        Progress::on_terminal(bar)
    }

    /// A counter of steps (e.g. simulation runs), labelled `label`.
    pub fn steps(label: &str, unit: &str) -> Progress {
        let template = format!("{{prefix}} {{spinner}} {{pos}} {unit} ({{elapsed}})");
        let style = ProgressStyle::with_template(&template).expect("a valid template");
        let bar = ProgressBar::no_length().with_style(style);
        bar.set_prefix(label.to_owned());
        Progress::on_terminal(bar)
    }

    /// Whether the bar draws nothing.
    #[cfg(test)]
    pub fn is_hidden(&self) -> bool {
        self.bar.is_hidden()
    }

    /// Wraps `inner` so that bytes read from it advance the bar.
    pub fn wrap_read<R: Read>(&self, inner: R) -> impl Read + use<R> {
        self.bar.wrap_read(inner)
    }

    /// Advances the bar by `n` steps or bytes.
    pub fn inc(&self, n: u64) {
        self.bar.inc(n);
    }

    /// Moves the bar to `position` (for work that reports how far it is).
    pub fn set_position(&self, position: u64) {
        self.bar.set_position(position);
    }

    /// Where the bar is (bytes or steps so far).
    #[cfg(test)]
    pub fn position(&self) -> u64 {
        self.bar.position()
    }

    /// Removes the bar from the terminal.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_through_the_bar_counts_bytes_and_passes_them_on() {
        for progress in [Progress::hidden(), Progress::bytes("test", Some(10_000))] {
            let data: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
            let mut copy = Vec::new();
            progress
                .wrap_read(data.as_slice())
                .read_to_end(&mut copy)
                .unwrap();
            assert_eq!(copy, data);
            assert_eq!(progress.position(), 10_000);
            progress.inc(5);
            assert_eq!(progress.position(), 10_005);
            progress.finish();
        }
        assert!(Progress::hidden().is_hidden());
    }
}
