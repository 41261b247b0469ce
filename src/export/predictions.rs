//! The predictions CSV written by `mousexray predict` and joined by `mousexray merge`: one row
//! per specimen, every taxonomy node's conditional and joint probability and flag, and enough
//! provenance (model SHA-256, device, time, shard) to know where each number came from.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::Context;

use crate::inference::pipeline::SpecimenResult;
use crate::specimen::Metadata;
use crate::taxonomy::Taxonomy;

/// What every row of one run shares.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// Model file name.
    pub model_name: String,
    /// Model SHA-256.
    pub model_sha256: String,
    /// Execution provider summary ("CPU", "CUDA", ...).
    pub device: String,
    /// "K/N" when this run is a shard, else empty.
    pub shard: String,
}

/// The header: fixed columns, metadata, then per node `p_`, `joint_` and `flag_` columns, then
/// the provenance columns.
pub fn header(taxonomy: &Taxonomy) -> Vec<String> {
    let mut h: Vec<String> =
        ["specimen_id", "dv_path", "lv_path", "views_used"].into_iter().map(String::from).collect();
    h.extend(Metadata::COLUMNS.iter().map(|c| (*c).to_owned()));
    h.extend(["flagged", "top_finding", "top_probability"].into_iter().map(String::from));
    for prefix in ["p_", "joint_", "flag_"] {
        h.extend(taxonomy.nodes.iter().map(|n| format!("{prefix}{}", n.id)));
    }
    h.extend(["model", "model_sha256", "device", "shard", "timestamp"].into_iter().map(String::from));
    h
}

/// One result as a row matching [`header`].
pub fn row(taxonomy: &Taxonomy, r: &SpecimenResult, run: &RunInfo, timestamp: &str) -> Vec<String> {
    let path = |v: Option<&Path>| v.map(|p| p.display().to_string()).unwrap_or_default();
    let views = match r.views_used {
        [true, true] => "DV+LV",
        [true, false] => "DV",
        [false, true] => "LV",
        [false, false] => "none",
    };
    let mut out = vec![r.specimen.id.clone(), path(r.specimen.dv()), path(r.specimen.lv()), views.to_owned()];
    out.extend(Metadata::COLUMNS.iter().map(|c| r.specimen.metadata.get(c).unwrap_or("").to_owned()));
    let n = taxonomy.nodes.len();
    match &r.scores {
        Some(s) => {
            let flagged: Vec<&str> = taxonomy
                .nodes
                .iter()
                .zip(&s.flags)
                .filter(|(node, f)| **f && node.level == crate::taxonomy::Level::L3)
                .map(|(node, _)| node.id.as_str())
                .collect();
            out.push(flagged.join(";"));
            let top = s.top_finding(taxonomy);
            out.push(top.map(|t| t.0.to_owned()).unwrap_or_default());
            out.push(top.map(|t| format!("{:.4}", t.1)).unwrap_or_default());
            out.extend(s.conditional.iter().map(|p| format!("{p:.4}")));
            out.extend(s.joint.iter().map(|p| format!("{p:.4}")));
            out.extend(s.flags.iter().map(|f| if *f { "1" } else { "0" }.to_owned()));
        }
        None => {
            out.extend(std::iter::repeat_n(String::new(), 3 + 3 * n));
        }
    }
    out.extend([run.model_name.clone(), run.model_sha256.clone(), run.device.clone(), run.shard.clone()]);
    out.push(timestamp.to_owned());
    out
}

/// Parses `--shard K/N` (1-based K).
pub fn parse_shard(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("`{s}` is not K/N with 1 <= K <= N (for example 3/10)");
    let (k, n) = s.split_once('/').ok_or_else(bad)?;
    let (k, n): (u32, u32) = (k.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
    if k == 0 || n == 0 || k > n {
        return Err(bad());
    }
    Ok((k, n))
}

/// Whether specimen `id` belongs to shard `k` of `n`: a hash of the id, so the split does not
/// depend on listing order or on which other specimens exist.
pub fn in_shard(id: &str, k: u32, n: u32) -> bool {
    let mut h = crate::fingerprint::Fnv::default();
    h.write(id.as_bytes());
    // FNV's low bits mix poorly for similar ids; fold the high half in.
    let x = h.0 ^ (h.0 >> 29) ^ (h.0 >> 47);
    (x % u64::from(n)) as u32 == k - 1
}

/// What a merge found.
#[derive(Debug, Clone, Default)]
pub struct MergeReport {
    /// Rows written.
    pub rows: usize,
    /// Shards seen ("K/N").
    pub shards: BTreeSet<String>,
    /// Ids in the folder that no shard has (only with a folder to check against).
    pub missing: Vec<String>,
}

/// Joins prediction CSVs into `out`. Refuses different headers, different models, a specimen
/// in two rows, and a mix of shard counts; reports shards never seen. With `expected` ids
/// (from scanning the folder), every one must be present.
pub fn merge(inputs: &[&Path], out: &Path, expected: Option<&[String]>) -> anyhow::Result<MergeReport> {
    anyhow::ensure!(!inputs.is_empty(), "nothing to merge: give the shard CSVs");
    let mut header: Option<csv::StringRecord> = None;
    let mut rows: BTreeMap<String, (csv::StringRecord, String)> = BTreeMap::new();
    let mut report = MergeReport::default();
    let mut model: Option<(String, String)> = None;
    let mut shard_count: Option<String> = None;
    for path in inputs {
        let mut rd = csv::Reader::from_path(path).with_context(|| format!("{}: cannot read", path.display()))?;
        let h = rd.headers().with_context(|| format!("{}: no header", path.display()))?.clone();
        let col = |name: &str| h.iter().position(|c| c == name);
        let (Some(id_col), Some(sha_col), Some(shard_col)) = (col("specimen_id"), col("model_sha256"), col("shard"))
        else {
            anyhow::bail!(
                "{}: not a mousexray predictions file (specimen_id, model_sha256, shard columns)",
                path.display()
            );
        };
        match &header {
            None => header = Some(h.clone()),
            Some(first) if *first != h => {
                anyhow::bail!("{}: its columns differ from {}", path.display(), inputs[0].display())
            }
            Some(_) => {}
        }
        for (line, rec) in rd.records().enumerate() {
            let rec = rec.with_context(|| format!("{}: row {}", path.display(), line + 2))?;
            let id = rec.get(id_col).unwrap_or("").to_owned();
            let sha = rec.get(sha_col).unwrap_or("").to_owned();
            let shard = rec.get(shard_col).unwrap_or("").to_owned();
            match &model {
                None => model = Some((sha.clone(), path.display().to_string())),
                Some((m, from)) if *m != sha => anyhow::bail!(
                    "{}: specimen {id} was predicted by model {}, but {from} used {}; rerun with one model",
                    path.display(),
                    short(&sha),
                    short(m)
                ),
                Some(_) => {}
            }
            let n = shard.split_once('/').map(|x| x.1.to_owned()).unwrap_or_default();
            match &shard_count {
                None => shard_count = Some(n),
                Some(c) if *c != n => anyhow::bail!("{}: shard {shard} mixes with shards of /{c}", path.display()),
                Some(_) => {}
            }
            if !shard.is_empty() {
                report.shards.insert(shard);
            }
            if let Some((_, other)) = rows.get(&id) {
                anyhow::bail!("specimen {id} appears in both {other} and {}", path.display());
            }
            rows.insert(id, (rec, path.display().to_string()));
        }
    }
    if let Some(exp) = expected {
        report.missing = exp.iter().filter(|id| !rows.contains_key(*id)).cloned().collect();
        anyhow::ensure!(
            report.missing.is_empty(),
            "{} specimen(s) of the folder are in no shard, for example {}",
            report.missing.len(),
            report.missing.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
        );
    } else if let Some(n) = shard_count.as_deref().and_then(|n| n.parse::<u32>().ok()) {
        let absent: Vec<String> = (1..=n).map(|k| format!("{k}/{n}")).filter(|s| !report.shards.contains(s)).collect();
        anyhow::ensure!(
            absent.is_empty(),
            "no rows from shard(s) {}; give their files, or --folder to check the specimens directly",
            absent.join(", ")
        );
    }
    let Some(header) = header else { anyhow::bail!("nothing to merge") };
    let tmp = out.with_extension("csv.partial");
    {
        let mut w = csv::Writer::from_path(&tmp).with_context(|| format!("{}: cannot write", tmp.display()))?;
        w.write_record(&header)?;
        for (rec, _) in rows.values() {
            w.write_record(rec)?;
        }
        w.flush().with_context(|| format!("{}: cannot write", tmp.display()))?;
    }
    std::fs::rename(&tmp, out).with_context(|| format!("{}: cannot write", out.display()))?;
    report.rows = rows.len();
    Ok(report)
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_partition_every_id_once() {
        assert_eq!(parse_shard("3/10"), Ok((3, 10)));
        for bad in ["0/3", "4/3", "3", "a/b", "1/0"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
        let ids: Vec<String> = (0..3000).map(|i| format!("MX{i:05}")).collect();
        let n = 7;
        let mut counts = vec![0usize; n as usize];
        for id in &ids {
            let owners: Vec<u32> = (1..=n).filter(|k| in_shard(id, *k, n)).collect();
            assert_eq!(owners.len(), 1, "{id}");
            counts[owners[0] as usize - 1] += 1;
        }
        // Roughly even: every shard within 25% of 3000/7.
        assert!(counts.iter().all(|c| (321..=536).contains(c)), "{counts:?}");
    }
}
