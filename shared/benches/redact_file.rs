//! `redact_stream` over a file, in process: what `aiops redact` does, without the
//! process start-up and the file I/O. Each run is timed on its own and the best is
//! printed; `REDACT_RUNS=1` shows a fresh process's first pass, lazy automata states
//! included. `REDACT_OUT` writes the output, to compare two builds byte for byte.
//!
//!     scripts/redact-corpus --mb 20 --seed 7 > /tmp/logs.jsonl
//!     REDACT_FILE=/tmp/logs.jsonl REDACT_RUNS=1 cargo bench -p shared --bench redact_file

use std::time::Instant;

use shared::redact::Redactor;

fn main() {
    let Ok(path) = std::env::var("REDACT_FILE") else {
        eprintln!("redact_file: set REDACT_FILE to the file to redact");
        return;
    };
    let input = match std::fs::read(&path) {
        Ok(input) => input,
        Err(e) => {
            eprintln!("redact_file: cannot read REDACT_FILE {path}: {e}");
            std::process::exit(1);
        }
    };
    let runs: usize = std::env::var("REDACT_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .filter(|&r| r > 0)
        .unwrap_or(5);
    let redactor = Redactor::default();
    let mut out = Vec::with_capacity(input.len() + 4096);
    let mut best = f64::MAX;
    for _ in 0..runs {
        out.clear();
        let started = Instant::now();
        redactor
            .redact_stream(input.as_slice(), &mut out)
            .expect("writing to a Vec cannot fail");
        best = best.min(started.elapsed().as_secs_f64());
    }
    if let Ok(to) = std::env::var("REDACT_OUT")
        && let Err(e) = std::fs::write(&to, &out)
    {
        eprintln!("redact_file: cannot write REDACT_OUT {to}: {e}");
        std::process::exit(1);
    }
    #[allow(clippy::cast_precision_loss)] // a file of 2^52 bytes is not benchmarked
    let mb = input.len() as f64 / 1e6;
    println!(
        "{path}: {mb:.1} MB in {:.1} ms (best of {runs}): {:.0} MB/s, {} bytes out",
        best * 1e3,
        mb / best,
        out.len()
    );
}
