//! The review lock is an OS advisory lock: two processes racing for one stale lock file never
//! both hold it. The child processes are this test binary again, running the ignored test
//! `lock_racer`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
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
    let start = Instant::now();
    while !go.exists() && start.elapsed() < Duration::from_secs(20) {
        std::hint::spin_loop();
    }
    let outcome = ReviewSession::open(Path::new(&folder), "racer");
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", if outcome.is_ok() { "RACE won" } else { "RACE held" }).unwrap();
    out.flush().unwrap();
    // Hold the lock (or not) while the other racer tries.
    std::thread::sleep(Duration::from_millis(300));
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
        let racers: Vec<_> = (0..2)
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
        std::thread::sleep(Duration::from_millis(150));
        std::fs::write(&go, b"go").unwrap();
        let mut won = 0;
        let mut held = 0;
        for r in racers {
            let out = r.wait_with_output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            won += text.matches("RACE won").count();
            held += text.matches("RACE held").count();
        }
        assert_eq!((won, held), (1, 1), "round {round}: exactly one racer holds the lock");
    }
}
