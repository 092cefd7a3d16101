//! Progress of long work (preloading, benchmarks' phases) on a terminal: a bar on stderr
//! when a person is watching, nothing at all otherwise (CI, pipes, logs).

use indicatif::{ProgressBar, ProgressStyle};

/// A bar of `total` steps labelled `what`; hidden unless stderr is a terminal.
pub fn bar(total: u64, what: &str) -> ProgressBar {
    // indicatif's stderr target draws nothing when stderr is not a terminal.
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} {wide_bar} {human_pos}/{human_len} {per_sec} eta {eta}",
        )
        .expect("a valid template"),
    );
    bar.set_message(what.to_owned());
    bar
}

#[cfg(test)]
mod tests {
    #[test]
    fn without_a_terminal_the_bar_draws_nothing() {
        // Under `cargo test` stderr is captured, as in CI: not a terminal.
        let bar = super::bar(10, "preloading");
        assert!(bar.is_hidden());
        bar.inc(10);
        assert_eq!(bar.position(), 10);
    }
}
