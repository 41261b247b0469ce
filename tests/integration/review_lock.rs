//! The review lock is an OS advisory lock: two processes racing for one stale lock file never
//! both hold it. The child processes are this test binary again, running the ignored test
//! `review_lock::lock_racer`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mousexray::review::ReviewSession;

#[test]
#[ignore = "a child of two_processes_racing_for_a_stale_lock_never_both_win"]
fn lock_racer() {
    let (Ok(folder), Ok(go)) = (std::env::var("MOUSEXRAY_RACE_FOLDER"), std::env::var("MOUSEXRAY_RACE_GO")) else {
        return;
    };
    let go = PathBuf::from(go);
    // Say this racer is up, then wait for the start: the parent starts both racers together,
    // however long each took to launch on a busy machine.
    std::fs::write(go.with_extension(format!("ready-{}", std::process::id())), b"").unwrap();
    let waited = |path: &Path| {
        let start = Instant::now();
        while !path.exists() && start.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_micros(100));
        }
    };
    waited(&go);
    let outcome = ReviewSession::open(Path::new(&folder), "racer");
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", if outcome.is_ok() { "RACE won" } else { "RACE held" }).unwrap();
    out.flush().unwrap();
    // Hold the lock (or not) until the parent has both answers.
    waited(&go.with_extension("done"));
}

#[test]
fn two_processes_racing_for_a_stale_lock_never_both_win() {
    let exe = std::env::current_exe().unwrap();
    let rounds = 20;
    for round in 0..rounds {
        let dir = tempfile::tempdir().unwrap();
        let side = dir.path().join(".mousexray");
        std::fs::create_dir_all(&side).unwrap();
        // A lock left by a process that is gone (the old format: pid, host, time).
        std::fs::write(side.join("review.lock"), "4000000 elsewhere 2026-01-01T00:00:00Z").unwrap();
        let go = dir.path().join("go");
        let mut racers: Vec<_> = (0..2)
            .map(|_| {
                Command::new(&exe)
                    .args(["--exact", "review_lock::lock_racer", "--ignored", "--nocapture", "--test-threads=1"])
                    .env("MOUSEXRAY_RACE_FOLDER", dir.path())
                    .env("MOUSEXRAY_RACE_GO", &go)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let ready = || {
            std::fs::read_dir(dir.path())
                .unwrap()
                .filter(|e| e.as_ref().is_ok_and(|e| e.file_name().to_string_lossy().starts_with("go.ready-")))
                .count()
        };
        let start = Instant::now();
        while ready() < 2 && start.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(ready(), 2, "round {round}: both racers started");
        std::fs::write(&go, b"go").unwrap();
        // Each racer's one answer, read while both still run (the winner still holding the lock).
        let mut readers: Vec<_> = racers.iter_mut().map(|r| BufReader::new(r.stdout.take().unwrap())).collect();
        let answers: Vec<String> = readers
            .iter_mut()
            .map(|reader| {
                let mut text = String::new();
                while reader.read_line(&mut text).unwrap() > 0 && !text.contains("RACE ") {}
                text
            })
            .collect();
        std::fs::write(go.with_extension("done"), b"").unwrap();
        for (mut r, mut reader) in racers.into_iter().zip(readers) {
            std::io::copy(&mut reader, &mut std::io::sink()).unwrap();
            r.wait().unwrap();
        }
        let won = answers.iter().filter(|a| a.contains("RACE won")).count();
        let held = answers.iter().filter(|a| a.contains("RACE held")).count();
        assert_eq!((won, held), (1, 1), "round {round}: exactly one racer holds the lock: {answers:?}");
    }
}
