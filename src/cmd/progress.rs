//! Progress of a long command: a spinner with the current phase on a
//! terminal (stderr), one plain line per phase when stderr is not a terminal
//! (logs, CI), nothing with `--quiet` there. Short runs show nothing at all:
//! the caller decides what is long.

use std::io::IsTerminal as _;
use std::time::Duration;

pub enum Progress {
    Bar(indicatif::ProgressBar),
    Lines(&'static str),
    Off,
}

impl Progress {
    /// For a run of `what` (e.g. `entries load`) that is `long` or not.
    pub fn new(what: &'static str, long: bool, quiet: bool) -> Progress {
        if !long {
            return Progress::Off;
        }
        if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {prefix}: {msg} ({elapsed})")
                    .expect("valid template"),
            );
            bar.set_prefix(what);
            bar.enable_steady_tick(Duration::from_millis(100));
            Progress::Bar(bar)
        } else if quiet {
            Progress::Off
        } else {
            Progress::Lines(what)
        }
    }

    /// A new phase begins.
    pub fn phase(&self, msg: &str) {
        match self {
            Progress::Bar(b) => b.set_message(msg.to_string()),
            Progress::Lines(what) => eprintln!("{what}: {msg}"),
            Progress::Off => {}
        }
    }

    /// Done: the spinner goes away (the command prints its own result).
    pub fn finish(&self) {
        if let Progress::Bar(b) = self {
            b.finish_and_clear();
        }
    }
}
