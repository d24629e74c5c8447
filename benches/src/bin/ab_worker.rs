//! A long-running worker that `benches/peers.py` drives for A/B timing against Python engines.
//!
//! Build: `cargo build --release -p mobilenet-benches --bin ab_worker`.
//!
//! Both models are compiled by the `mobilenet!` macro (baked weights) and fed reference image 0
//! from `fixtures/*/io.safetensors`. Line protocol on stdin/stdout, one answer line per command,
//! flushed after each line:
//!
//! - `run MODEL N`: N forwards; answers N space-separated per-iteration latencies in milliseconds;
//! - `check MODEL`: one forward; answers the top-5 class indices, space-separated;
//! - `peak`: this core's measured FMA throughput in GFLOP/s, with the kernels' vectors;
//! - `quit`: exits (so does end of input).
//!
//! `MODEL` is `v2` (1.0-224, `models/v2.yaml`) or `tiny` (0.35-96, `models/v2_0.35_96_c10.yaml`).
//! A bad command answers one line starting with `error:`.
//!
//! Options: `--threads N` (default 1): above 1, `forward_parallel` on a pool of N threads.
#![forbid(unsafe_code)]

use std::io::{BufRead, Write};
use std::time::Instant;

use mobilenet_benches::{case, top_k, Ours, CASES};

fn parse_threads() -> Result<usize, String> {
    let mut args = std::env::args().skip(1);
    let mut threads = 1;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--threads" => {
                let value = args.next().ok_or("--threads needs a value")?;
                threads = value.parse().map_err(|_| format!("--threads: not a number: {value}"))?;
            }
            other => return Err(format!("unknown argument {other:?} (usage: ab_worker [--threads N])")),
        }
    }
    Ok(threads)
}

fn pick<'a>(name: &str, runners: &'a mut [Ours]) -> Result<&'a mut Ours, String> {
    match case(name) {
        Some(case) => Ok(runners.iter_mut().find(|r| r.case.name == case.name).expect("a runner per case")),
        None => Err(format!("error: unknown model {name:?} (expected v2 or tiny)")),
    }
}

/// Per-iteration latencies of `n` forwards, in milliseconds.
fn time(runner: &mut Ours, n: usize) -> Vec<f64> {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            runner.forward();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect()
}

/// The answer line for one command, or `None` to quit.
fn answer(line: &str, runners: &mut [Ours]) -> Option<String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let reply = match words.as_slice() {
        [] => String::from("error: empty command"),
        ["quit"] => return None,
        ["run", model, n] => match (pick(model, runners), n.parse::<usize>()) {
            (Ok(runner), Ok(n)) => time(runner, n).iter().map(|ms| format!("{ms:.6}")).collect::<Vec<_>>().join(" "),
            (Err(e), _) => e,
            (_, Err(_)) => format!("error: not a count: {n:?}"),
        },
        ["peak"] => format!("{:.1}", mobilenet_kernels::fma_peak_gflops(mobilenet_kernels::Cpu::detect())),
        ["check", model] => match pick(model, runners) {
            Ok(runner) => top_k(runner.forward(), 5).iter().map(usize::to_string).collect::<Vec<_>>().join(" "),
            Err(e) => e,
        },
        _ => format!("error: unknown command {line:?} (expected `run MODEL N`, `check MODEL`, `peak` or `quit`)"),
    };
    Some(reply)
}

fn main() {
    let threads = parse_threads().unwrap_or_else(|e| {
        eprintln!("ab_worker: {e}");
        std::process::exit(2);
    });
    let mut runners: Vec<Ours> = CASES.into_iter().map(|c| Ours::with_threads(c, threads)).collect();
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let line = line.expect("read stdin");
        let Some(reply) = answer(line.trim(), &mut runners) else { break };
        writeln!(stdout, "{reply}").and_then(|_| stdout.flush()).expect("write stdout");
    }
}
