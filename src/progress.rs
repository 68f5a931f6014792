//! How a run shows its progress: a bar on a terminal (units done of all,
//! bytes read, rate, time left, failures so far; failures printed above
//! it), plain periodic lines otherwise (for logs: one every
//! `STACFORGE_PROGRESS_SECONDS`, 10 by default, and one per failure), and
//! with `--json` one JSON event per unit on standard output.

use indicatif::{HumanBytes, HumanDuration, ProgressBar, ProgressStyle};
use stacforge_runner::{Done, Tally, UnitOutcome};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The progress display of one run.
#[derive(Debug)]
pub struct Display {
    bar: Option<ProgressBar>,
    json: bool,
    verbose: bool,
    started: Instant,
    interval: Duration,
    last_line: Mutex<Instant>,
}

impl Display {
    /// A display for a run; `json` adds events on standard output,
    /// `verbose` a line per unit.
    pub fn new(json: bool, verbose: bool) -> Display {
        let bar = std::io::IsTerminal::is_terminal(&std::io::stderr()).then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:30} {pos}/{len} units  {msg}  ({elapsed} so far)",
                )
                .expect("a valid template"),
            );
            bar
        });
        let interval = std::env::var("STACFORGE_PROGRESS_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .map_or(Duration::from_secs(10), Duration::from_secs_f64);
        Display {
            bar,
            json,
            verbose,
            started: Instant::now(),
            interval,
            last_line: Mutex::new(Instant::now()),
        }
    }

    /// Shows one finished unit.
    pub fn unit(&self, tally: &Tally, outcome: &UnitOutcome) {
        let n = tally.finished;
        let total = tally.total;
        if self.json {
            println!("{}", event(outcome));
        }
        let line = match &outcome.result {
            Ok((done, path)) => self.verbose.then(|| {
                let verb = match done {
                    Done::Written => "ok     ",
                    Done::Skipped => "skipped",
                };
                format!(
                    "[{n}/{total}] {verb} {} -> {path} ({:.2} s)",
                    outcome.label(),
                    outcome.seconds
                )
            }),
            Err(e) => {
                // An error found in the unit's output (a staged store) is
                // told with the sources it came from.
                let error = stacforge_runner::describe_error(e);
                let named = outcome
                    .sources
                    .iter()
                    .any(|s| error.contains(&s.display().to_string()));
                Some(if named {
                    format!("[{n}/{total}] FAILED {error}")
                } else {
                    format!(
                        "[{n}/{total}] FAILED {} ({}): {error}",
                        outcome.item_id,
                        outcome.label()
                    )
                })
            }
        };
        match &self.bar {
            Some(bar) => {
                bar.set_length(total as u64);
                if let Some(line) = line {
                    bar.println(line);
                }
                bar.set_message(self.status(tally));
                bar.set_position(n as u64);
            }
            None => {
                if let Some(line) = line {
                    eprintln!("{line}");
                }
                let mut last = self.last_line.lock().expect("not poisoned");
                if last.elapsed() >= self.interval && n < total {
                    *last = Instant::now();
                    eprintln!("[{n}/{total}] {}", self.status(tally));
                }
            }
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    /// Counts, bytes, rate and time left, on one line.
    fn status(&self, tally: &Tally) -> String {
        let elapsed = self.started.elapsed().as_secs_f64().max(1e-3);
        let rate = tally.bytes as f64 / elapsed;
        let done = tally.finished.max(1) as f64;
        let left = Duration::from_secs_f64(elapsed / done * (tally.total - tally.finished) as f64);
        format!(
            "{} written, {} skipped, {} failed; {} read at {}/s; about {} left",
            tally.written,
            tally.skipped,
            tally.failed,
            HumanBytes(tally.bytes),
            HumanBytes(rate as u64),
            HumanDuration(left)
        )
    }
}

/// The JSON event of one finished unit.
fn event(outcome: &UnitOutcome) -> serde_json::Value {
    let mut event = serde_json::json!({
        "event": "unit",
        "item_id": outcome.item_id,
        "source": outcome.label(),
        "sources": outcome.sources,
        "seconds": outcome.seconds,
        "bytes": outcome.bytes,
        "attempts": outcome.attempts,
    });
    match &outcome.result {
        Ok((done, path)) => {
            event["status"] = match done {
                Done::Written => "written",
                Done::Skipped => "skipped",
            }
            .into();
            event["item"] = path.as_str().into();
        }
        Err(e) => {
            event["status"] = "failed".into();
            event["error"] = stacforge_runner::describe_error(e).into();
        }
    }
    event
}

/// A bar counting `total` things (`what`: "COGs") on a terminal; `None`
/// when standard error is not one.
pub fn count_bar(total: u64, what: &str) -> Option<ProgressBar> {
    std::io::IsTerminal::is_terminal(&std::io::stderr()).then(|| {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(&format!(
                "{{bar:30}} {{pos}}/{{len}} {what}  ({{elapsed}} so far, {{eta}} left)"
            ))
            .expect("a valid template"),
        );
        bar
    })
}
