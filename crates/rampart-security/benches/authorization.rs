//! One authorization decision with 1,000 role index patterns, against 10,000 indices, beside
//! the naive way (each pattern compiled and tried one by one) measured in the same run.
//! Elasticsearch issue 52673 reported 300 ms per request at 197 indices; the goal is that the
//! cost does not grow with the number of indices or patterns.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use rampart_security::roles::{CompiledRole, Permissions, RoleDescriptor};
use serde_json::json;

fn roles() -> (Permissions, Vec<regex::Regex>) {
    // 10 roles of 100 index entries each: 1,000 patterns, wildcards and regexes mixed.
    let mut compiled = Vec::new();
    let mut naive = Vec::new();
    for r in 0..10 {
        let mut entries = Vec::new();
        for p in 0..100 {
            let n = r * 100 + p;
            let name = if n % 10 == 0 {
                format!("/tenant-{n}-[a-z]+-[0-9]{{4}}/")
            } else {
                format!("tenant-{n}-*")
            };
            let regex = if n % 10 == 0 {
                format!("^(?:tenant-{n}-[a-z]+-[0-9]{{4}})$")
            } else {
                format!("^tenant-{n}-.*$")
            };
            naive.push(regex::Regex::new(&regex).expect("regex"));
            entries.push(json!({"names": [name], "privileges": ["read", "view_index_metadata"]}));
        }
        let descriptor = RoleDescriptor::parse(&format!("role{r}"), &json!({"indices": entries}))
            .expect("valid role");
        compiled.push(Arc::new(
            CompiledRole::compile(&format!("role{r}"), &descriptor).expect("compiles"),
        ));
    }
    (Permissions::Roles(compiled), naive)
}

fn indices() -> Vec<String> {
    (0..10_000)
        .map(|i| format!("tenant-{}-logs-{:04}", i % 2_000, i))
        .collect()
}

fn bench(c: &mut Criterion) {
    let (permissions, naive) = roles();
    let indices = indices();
    let last = indices.last().expect("indices").clone();
    let mut group = c.benchmark_group("authorization");
    group.bench_function("one decision, 1k patterns (compiled sets)", |b| {
        b.iter(|| permissions.allows_index(black_box("indices:data/read/search"), black_box(&last)))
    });
    group.bench_function("one decision, 1k patterns (patterns one by one)", |b| {
        b.iter(|| naive.iter().any(|re| re.is_match(black_box(&last))))
    });
    group.sample_size(20);
    group.bench_function("narrow 10k indices, 1k patterns (compiled sets)", |b| {
        b.iter(|| {
            indices
                .iter()
                .filter(|i| permissions.allows_index("indices:data/read/search", i))
                .count()
        })
    });
    group.bench_function(
        "narrow 10k indices, 1k patterns (patterns one by one)",
        |b| {
            b.iter(|| {
                indices
                    .iter()
                    .filter(|i| naive.iter().any(|re| re.is_match(i)))
                    .count()
            })
        },
    );
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
