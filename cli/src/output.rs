//! What every command shares for its output: figures rounded for people,
//! writing to standard output, and progress bars on standard error.

use std::io::{IsTerminal as _, Write as _};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// `x` rounded to 3 significant digits, without an exponent: `1234.5` is
/// `"1230"`, `0.012345` is `"0.0123"`, `9.996` is `"10.0"`; zero is `"0"`,
/// and NaN and infinities print as Rust prints them.
///
/// ```
/// use unidb_cli::output::sig3;
/// assert_eq!(sig3(123_456.0), "123000");
/// assert_eq!(sig3(0.5), "0.500");
/// assert_eq!(sig3(-2.0 / 3.0), "-0.667");
/// ```
pub fn sig3(x: f64) -> String {
    if x == 0.0 {
        return "0".to_owned();
    }
    if !x.is_finite() {
        return x.to_string();
    }
    let scale = |v: f64| 10f64.powi(v.abs().log10().floor() as i32 - 2);
    let step = scale(x);
    let rounded = (x / step).round() * step;
    let digits = rounded.abs().log10().floor() as i32;
    let decimals = (2 - digits).max(0) as usize;
    format!("{rounded:.decimals$}")
}

/// Writes `text` to standard output and flushes it.
///
/// # Errors
/// The write's error; a closed pipe (`unidb ... | head -1`) is
/// [`std::io::ErrorKind::BrokenPipe`], which `main` turns into a quiet
/// success.
pub fn emit(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// Whether to draw progress: never with `--json`, and only when standard
/// error is a terminal.
pub fn progress_enabled(json: bool) -> bool {
    !json && std::io::stderr().is_terminal()
}

/// A spinner with the elapsed time on standard error (hidden unless
/// `enabled`), for work whose library reports no progress; cleared when
/// dropped.
pub struct Spinner(ProgressBar);

impl Spinner {
    /// Starts a spinner showing `message`.
    pub fn new(enabled: bool, message: &str) -> Self {
        if !enabled {
            return Spinner(ProgressBar::hidden());
        }
        let bar = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
            bar.set_style(style);
        }
        bar.set_message(message.to_owned());
        bar.enable_steady_tick(Duration::from_millis(100));
        Spinner(bar)
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// One progress bar per stage of a run, on standard error (nothing unless
/// enabled): a report for a new stage clears the previous stage's bar.
/// Reports may come from several threads.
pub struct StageBars {
    enabled: bool,
    current: Mutex<Option<(String, ProgressBar)>>,
}

impl StageBars {
    /// Bars that draw only when `enabled` (see [`progress_enabled`]).
    pub fn new(enabled: bool) -> Self {
        StageBars {
            enabled,
            current: Mutex::new(None),
        }
    }

    /// Shows `done` of `total` for the stage `label`.
    pub fn update(&self, label: &str, done: u64, total: u64) {
        if !self.enabled {
            return;
        }
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        match &*current {
            Some((l, bar)) if l == label => {
                bar.set_length(total);
                bar.set_position(done);
            }
            _ => {
                if let Some((_, old)) = current.take() {
                    old.finish_and_clear();
                }
                let bar = ProgressBar::new(total);
                if let Ok(style) = ProgressStyle::with_template(
                    "{msg:>16} [{bar:30}] {pos}/{len} {per_sec} {elapsed} (eta {eta})",
                ) {
                    bar.set_style(style.progress_chars("=> "));
                }
                bar.set_message(label.to_owned());
                bar.set_position(done);
                *current = Some((label.to_owned(), bar));
            }
        }
    }

    /// Runs `f` (which writes to the terminal) with the bar hidden.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        let current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        match &*current {
            Some((_, bar)) => bar.suspend(f),
            None => f(),
        }
    }
}

impl Drop for StageBars {
    fn drop(&mut self) {
        let current = self.current.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some((_, bar)) = current.take() {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests;
