//! `mousexray merge`: join the CSVs of a sharded `predict`.

use std::path::PathBuf;

use crate::export::predictions::merge;
use crate::specimen::scan;

/// Arguments of `mousexray merge`.
#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// Shard CSVs written by `predict --shard K/N`; their problems files (`.problems.csv`),
    /// given or found beside them, are merged into OUT.problems.csv.
    #[arg(value_name = "CSV", required = true)]
    pub inputs: Vec<PathBuf>,
    /// The merged CSV.
    #[arg(long, value_name = "CSV")]
    pub out: PathBuf,
    /// Check against this folder: every specimen it holds must be in exactly one shard.
    #[arg(long, value_name = "FOLDER")]
    pub folder: Option<PathBuf>,
}

/// Runs the command.
pub fn run(args: &MergeArgs) -> anyhow::Result<()> {
    crate::export::prepare_out(&args.out, "all.csv")?;
    let expected: Option<Vec<String>> = match &args.folder {
        Some(f) => Some(scan(f)?.specimens.into_iter().map(|s| s.id).collect()),
        None => None,
    };
    let inputs: Vec<&std::path::Path> = args.inputs.iter().map(PathBuf::as_path).collect();
    let report = merge(&inputs, &args.out, expected.as_deref())?;
    // Shards in their numeric order (1/12, 2/12, ... 10/12), not as text.
    let mut shards: Vec<&String> = report.shards.iter().collect();
    shards.sort_by_key(|s| s.split_once('/').and_then(|(k, _)| k.parse::<u32>().ok()));
    eprintln!(
        "{} rows from {} file(s){} into {}",
        report.rows,
        report.files,
        if shards.is_empty() {
            String::new()
        } else {
            format!(" (shards {})", shards.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "))
        },
        args.out.display()
    );
    let (path, n) = &report.problems;
    eprintln!("{n} problem rows into {}", path.display());
    Ok(())
}
