//! Our macro-compiled models only, single thread:
//! `cargo bench -p mobilenet-benches --features bench --bench ours`.
//!
//! Ids are `<group>/forward` (`v2_1.0_224/forward`, `v2_0.35_96/forward`), apart from
//! `<group>/ours` in `benches/peers.rs`, so the two benches keep separate criterion baselines.

use std::time::Duration;

use criterion::{Criterion, Throughput};
use mobilenet_benches::{Ours, TINY, V2};

fn ours(c: &mut Criterion) {
    for (case, samples) in [(V2, 20), (TINY, 50)] {
        let mut ours = Ours::new(case);
        ours.check();
        let mut group = c.benchmark_group(case.group);
        group.sample_size(samples).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
        group.throughput(Throughput::Elements(1));
        group.bench_function("forward", |b| b.iter(|| ours.forward().len()));
        group.finish();
    }
}

criterion::criterion_group!(benches, ours);
criterion::criterion_main!(benches);
