//! The benchmark harness on tiny sizes: `bench/run --smoke` with the rampart binary under test
//! (and the baseline tool and authorization bench built with the same cargo profile) must
//! finish and write every row of its results table with a number on each side and a ratio.
//! The numbers themselves mean nothing at these sizes. Needs wrk and nginx (Debian: `apt-get
//! install wrk nginx-light`), as CI installs them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Every row `bench/run` writes, by id.
const ROWS: &[&str] = &[
    "a1", "a2", "a3", "a4", "b1", "b2", "b3", "b4", "c1", "d1-p50", "d1-p99", "d2-p50", "d2-p99",
    "d3-p50", "d3-p99", "d4-p50", "d4-p99", "e1", "e2", "e3", "e4", "f1",
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository")
}

#[test]
fn bench_run_smoke_writes_every_row() {
    let rampart = Path::new(env!("CARGO_BIN_EXE_rampart"));
    // target/<profile dir>/rampart: build the rest with the same profile into the same target
    // directory, so that what `cargo test` already built is reused.
    let profile_dir = rampart.parent().expect("profile directory");
    let target = profile_dir.parent().expect("target directory");
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev",
        Some(other) => other,
        None => "dev",
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = dir.path().join("smoke.md");
    let started = Instant::now();
    let output = Command::new(repo().join("bench/run"))
        .arg("--smoke")
        .arg("--out")
        .arg(&out)
        .env("RAMPART_BENCH_BIN", rampart)
        .env("RAMPART_BENCH_PROFILE", profile)
        .env("CARGO_TARGET_DIR", target)
        .current_dir(repo())
        .output()
        .expect("bench/run starts");
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "bench/run --smoke failed ({}):\n{log}",
        output.status
    );
    eprintln!(
        "bench/run --smoke took {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let results = std::fs::read_to_string(&out).expect("the results file");
    for id in ROWS {
        let row = results
            .lines()
            .find(|l| l.starts_with(&format!("| {id} |")))
            .unwrap_or_else(|| panic!("no row {id} in:\n{results}"));
        let cells: Vec<&str> = row.split(" | ").collect();
        // | id | what | Rampart | baseline | ratio | commands |
        assert!(cells.len() >= 6, "row {id} has too few cells: {row}");
        for (name, cell) in [("Rampart", cells[2]), ("baseline", cells[3])] {
            assert!(
                cell.trim_start().starts_with(|c: char| c.is_ascii_digit()),
                "row {id}: the {name} cell has no number: {row}"
            );
        }
        let ratio: f64 = cells[4]
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("row {id}: the ratio is not a number: {row}"));
        assert!(
            ratio.is_finite() && ratio > 0.0,
            "row {id}: ratio {ratio}: {row}"
        );
        assert!(
            cells[5].contains("R: `") && cells[5].contains("B: "),
            "row {id}: no commands: {row}"
        );
    }
    for part in [
        "## Machine",
        "- CPU: ",
        "- rustc: ",
        "- kernel: ",
        "- RAM: ",
    ] {
        assert!(results.contains(part), "no {part:?} in:\n{results}");
    }
}
