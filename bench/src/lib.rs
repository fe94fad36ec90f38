//! `metrics-server-bench`: the scale harness, a tool beside the server. It runs the server
//! binary under test with its ordinary flags, and re-executes itself for the simulated cluster
//! (`sim-cluster`, one process or, for many nodes, several: simulator.rs) and the raw-fetch
//! floor (`raw-fetch`), so each is measured alone from `/proc/<pid>`; it runs the API
//! load from this process, and writes a JSON report and a short table. `--sweep` repeats the
//! run per node count and plots CPU and RSS per node against nodes (plot.rs).

pub mod config;
mod cpu_breakdown;
mod https;
mod loadgen;
pub mod manifest;
mod plot;
mod png;
mod process;
mod procstat;
pub mod raw_fetch;
mod report;
mod run;
mod scrape_cycles;
mod server_metrics;
mod server_stderr;
pub mod shard;
pub mod sim_cluster;
mod simulator;

use std::path::Path;

use anyhow::Context;

use crate::config::BenchArgs;
pub use report::Report;

/// Runs the harness as the flags say.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if let Some(dir) = args.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    if args.sweep.is_empty() {
        let report = run::run_once(&args, args.nodes).await?;
        println!("{}", report.table());
        write_json(&args.out, &report)?;
        println!("Report written to {}", args.out.display());
        return Ok(());
    }
    let mut reports = Vec::new();
    for &nodes in &args.sweep {
        let report = run::run_once(&args, nodes).await?;
        println!("{}", report.table());
        reports.push(report);
        // Written after every run, so a long sweep leaves its partial result.
        write_json(&args.out, &reports)?;
    }
    let png = args.out.with_extension("png");
    plot::sweep_png(&reports, &png)?;
    println!(
        "Sweep written to {} and {}",
        args.out.display(),
        png.display()
    );
    Ok(())
}

fn write_json(path: &Path, value: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut text = serde_json::to_vec_pretty(value)?;
    text.push(b'\n');
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}
