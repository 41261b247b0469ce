//! `mousexray export`: the folder's review as CSV.

use std::path::PathBuf;

use crate::export::review_csv::{ExportOptions, Only, export};
use crate::inference::stored::StoredResults;
use crate::review::{Reading, read_reading, review_dir};
use crate::specimen::scan;
use crate::taxonomy::Taxonomy;

/// Arguments of `mousexray export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The reviewed folder.
    #[arg(value_name = "FOLDER")]
    pub folder: PathBuf,
    /// CSV to write.
    #[arg(long, value_name = "CSV", default_value = "results.csv")]
    pub out: PathBuf,
    /// Which specimens.
    #[arg(long, value_enum, default_value_t = Only::All)]
    pub only: Only,
    /// One row per specimen and taxonomy node (IMPC-style), instead of one per specimen.
    #[arg(long)]
    pub long: bool,
    /// Start the file with a UTF-8 byte-order mark for Excel.
    #[arg(long)]
    pub excel: bool,
    /// Export the blinded second reading (Review > Second reading in the window) instead of the
    /// folder's review.
    #[arg(long)]
    pub second_reading: bool,
}

/// Runs the command.
pub fn run(args: &ExportArgs) -> anyhow::Result<()> {
    let report = scan(&args.folder)?;
    if report.specimens.is_empty() {
        anyhow::bail!(report.nothing_found());
    }
    crate::export::prepare_out(&args.out, "review.csv")?;
    let reading = if args.second_reading { Reading::Second } else { Reading::First };
    if reading == Reading::Second && !crate::review::has_reading(&args.folder, reading) {
        anyhow::bail!(
            "{} has no second reading (Review > Second reading in the window records one); nothing was written",
            args.folder.display()
        );
    }
    let (review, notes) = read_reading(&args.folder, reading);
    // Every note is damage: an export missing calls that exist must not pass for a whole one.
    anyhow::ensure!(
        notes.is_empty(),
        "the review of {} cannot be read in full; nothing was written:\n  {}\nOpening the folder in the \
         window sets the damaged file aside and keeps every edit its journal still holds; export then \
         writes those",
        args.folder.display(),
        notes.join("\n  ")
    );
    let loaded = StoredResults::load(&review_dir(&args.folder), false);
    let results = loaded.results;
    for n in &loaded.notes {
        eprintln!("warning: {n}");
    }
    let options = ExportOptions { only: args.only, long: args.long, excel: args.excel };
    let done = export(&args.out, &report.specimens, &review, &results, &Taxonomy::default(), options)?;
    let gone = done.without_films.len();
    eprintln!("{} of {} specimens written to {}", done.written - gone, report.specimens.len(), args.out.display());
    if gone > 0 {
        eprintln!(
            "and {gone} reviewed specimen(s) the folder has no films for any more, with empty paths: {}",
            done.without_films.join(", ")
        );
    }
    Ok(())
}
