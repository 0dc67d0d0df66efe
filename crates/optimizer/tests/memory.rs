//! Freed memory goes back to the OS (its own test binary: no other test's allocations move the
//! resident size while it measures).

/// Resident pages of this process, in bytes (Linux).
fn resident() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[test]
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_freed_hands_a_threads_freed_memory_back() {
    // Like a request solved on the blocking pool: 256 MiB in small blocks (below glibc's mmap
    // threshold, so they live in the thread's arena), freed when the work ends, thread parked.
    let (done, parked) = std::sync::mpsc::channel::<()>();
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let worker = std::thread::spawn(move || {
        let blocks: Vec<Vec<u8>> = (0..65_536).map(|i| vec![(i % 251) as u8; 4096]).collect();
        assert_eq!(blocks.len(), 65_536);
        drop(blocks);
        done.send(()).unwrap();
        wait.recv().unwrap();
    });
    parked.recv().unwrap();
    let kept = resident();
    inferno_optimizer::memory::release_freed();
    let after = resident();
    go.send(()).unwrap();
    worker.join().unwrap();
    assert!(
        kept > after + (128 << 20),
        "resident {} MiB before the trim, {} MiB after: the freed 256 MiB were not handed back",
        kept >> 20,
        after >> 20
    );
}
