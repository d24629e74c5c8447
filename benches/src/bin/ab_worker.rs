//! A long-running worker that `benches/peers.py` drives for A/B timing against Python engines.
//!
//! Build: `cargo build --release -p mobilenet-benches --features bench --bin ab_worker`
//! (without `--features bench` it builds the float32 models only and answers `v2-int8` with an
//! `error:` line: the int8 model is behind `bench`, like `int8_ab`, so that CI never builds it).
//!
//! Every model is compiled by the `mobilenet!` macro (baked weights) and fed reference image 0
//! from `fixtures/*/io.safetensors`. Line protocol on stdin/stdout, one answer line per command,
//! flushed after each line:
//!
//! - `run MODEL N`: N forwards; answers N space-separated per-iteration latencies in milliseconds;
//! - `check MODEL`: one forward; answers the top-5 class indices, space-separated;
//! - `peak`: this core's measured FMA throughput in GFLOP/s, with the kernels' vectors;
//! - `quit`: exits (so does end of input).
//!
//! `MODEL` is `v2` (1.0-224, `models/v2.yaml`), `tiny` (0.35-96, `models/v2_0.35_96_c10.yaml`) or
//! `v2-int8` (1.0-224 in int8, `benches/specs/v2_int8.yaml`, the model of `int8_ab`; feature
//! `bench`). A bad command answers one line starting with `error:`.
//!
//! Options: `--threads N` (default 1): above 1, `forward_parallel` on a pool of N threads (one
//! pool per model).
#![forbid(unsafe_code)]

use std::io::{BufRead, Write};
use std::time::Instant;

use mobilenet_benches::{top_k, Ours, CASES};

/// The protocol name of the int8 model.
const INT8: &str = "v2-int8";

/// One model with its arena (and pool), fed reference image 0.
trait Runner {
    /// One forward on the reference image; returns the logits.
    fn forward(&mut self) -> &[f32];
}

impl Runner for Ours {
    fn forward(&mut self) -> &[f32] {
        Ours::forward(self)
    }
}

/// MobileNetV2 1.0-224 in int8 (`specs/v2_int8.yaml`), behind `bench` like `int8_ab`.
#[cfg(feature = "bench")]
mod int8 {
    use mobilenet_benches::V2;
    use mobilenet_runtime::Threads;

    mobilenet_runtime::mobilenet!("specs/v2_int8.yaml");

    type Forward = Box<dyn FnMut(&[f32], &mut [f32])>;

    pub struct Int8 {
        input: Vec<f32>,
        logits: Vec<f32>,
        forward: Forward,
    }

    impl Int8 {
        /// `forward` on one thread, `forward_parallel` on a pool of `threads` above one.
        pub fn with_threads(threads: usize) -> Int8 {
            let model = MobileNetV2Int8::new();
            let forward: Forward = if threads > 1 {
                let mut pool = Threads::new(threads);
                let mut arena = MobileNetV2Int8::arena_for(&pool);
                Box::new(move |x, y| model.forward_parallel(&mut pool, &mut arena, x, y).expect("forward_parallel"))
            } else {
                let mut arena = MobileNetV2Int8::arena();
                Box::new(move |x, y| model.forward(&mut arena, x, y).expect("forward"))
            };
            Int8 { input: V2.fixture().input_nhwc, logits: vec![0.0; MobileNetV2Int8::NUM_CLASSES], forward }
        }
    }

    impl super::Runner for Int8 {
        fn forward(&mut self) -> &[f32] {
            (self.forward)(std::hint::black_box(&self.input), &mut self.logits);
            std::hint::black_box(&self.logits)
        }
    }
}

/// Every model this build has, by protocol name.
fn runners(threads: usize) -> Vec<(&'static str, Box<dyn Runner>)> {
    let f32 = CASES.into_iter().map(|c| (c.name, Box::new(Ours::with_threads(c, threads)) as Box<dyn Runner>));
    #[cfg(feature = "bench")]
    let int8 = std::iter::once((INT8, Box::new(int8::Int8::with_threads(threads)) as Box<dyn Runner>));
    #[cfg(not(feature = "bench"))]
    let int8 = std::iter::empty();
    f32.chain(int8).collect()
}

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

fn pick<'a>(name: &str, runners: &'a mut [(&'static str, Box<dyn Runner>)]) -> Result<&'a mut dyn Runner, String> {
    match runners.iter_mut().find(|(n, _)| *n == name) {
        Some((_, runner)) => Ok(runner.as_mut()),
        None if name == INT8 => {
            Err(format!("error: model {INT8:?} is not in this build (build ab_worker with `--features bench`)"))
        }
        None => Err(format!("error: unknown model {name:?} (expected v2, tiny or {INT8})")),
    }
}

/// Per-iteration latencies of `n` forwards, in milliseconds.
fn time(runner: &mut dyn Runner, n: usize) -> Vec<f64> {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            runner.forward();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect()
}

/// The answer line for one command, or `None` to quit.
fn answer(line: &str, runners: &mut [(&'static str, Box<dyn Runner>)]) -> Option<String> {
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
    let mut runners = runners(threads);
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let line = line.expect("read stdin");
        let Some(reply) = answer(line.trim(), &mut runners) else { break };
        writeln!(stdout, "{reply}").and_then(|_| stdout.flush()).expect("write stdout");
    }
}
