//! Benchmark: the costs of `yoe::fsx` on the cases it was built for. Digest of a 1 GiB
//! sparse file, a 1 TiB sparse file and 1 GiB of dense data (the new yoe-output-v2 content
//! digest beside the old `treehash::file_sha256`, which reads every byte); copying a 1 GiB
//! sparse file (time and allocated blocks, beside `std::fs::copy`); removing a 2,500-deep
//! tree (beside `std::fs::remove_dir_all`). Warm page cache; run with
//! `cargo bench --bench fsx`.
#![allow(clippy::print_stdout)] // a benchmark reports on stdout
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::time::{Duration, Instant};

use yoe::fsx::{Dir, RelPath};

fn time<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let s = Instant::now();
    let r = f();
    (r, s.elapsed())
}

fn sparse(p: &Path, size: u64) {
    let f = std::fs::File::create(p).unwrap();
    f.set_len(size).unwrap();
    for o in [0, size / 3, size - 4096] {
        f.write_all_at(&[0xa5; 4096], o).unwrap();
    }
}

fn dense(p: &Path, size: u64) {
    let f = std::fs::File::create(p).unwrap();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut buf = vec![0u8; 1 << 20];
    for off in (0..size).step_by(buf.len()) {
        for c in buf.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            c.copy_from_slice(&x.to_le_bytes());
        }
        f.write_all_at(&buf, off).unwrap();
    }
}

fn deep(dir: &Path, depth: usize) {
    use rustix::fs::{CWD, Mode, OFlags};
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let mut cur = rustix::fs::openat(CWD, dir, flags, Mode::empty()).unwrap();
    for _ in 0..depth {
        rustix::fs::mkdirat(&cur, "d", Mode::from_raw_mode(0o755)).unwrap();
        cur = rustix::fs::openat(&cur, "d", flags, Mode::empty()).unwrap();
    }
}

fn digest_file(dir: &Dir, name: &str) -> Duration {
    let f = dir.open_file(RelPath::new(name).unwrap()).unwrap();
    let size = f.metadata().unwrap().len();
    let (_, t) = time(|| yoe::fsx::digest::content_digest(&f, size, Path::new(name)).unwrap());
    t
}

fn main() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    let gib = 1u64 << 30;
    sparse(&root.join("sparse-1g"), gib);
    sparse(&root.join("sparse-1t"), 1 << 40);
    dense(&root.join("dense-1g"), gib);
    let dir = Dir::open(root).unwrap();
    // Warm the page cache for the dense file.
    let _ = yoe::treehash::file_sha256(&root.join("dense-1g")).unwrap();

    println!("digest (new content digest vs old treehash::file_sha256)");
    let new_sparse = digest_file(&dir, "sparse-1g");
    let (_, old_sparse) = time(|| yoe::treehash::file_sha256(&root.join("sparse-1g")).unwrap());
    println!("  1 GiB sparse   new {:>10.3?}   old {:>10.3?}", new_sparse, old_sparse);
    let new_tib = digest_file(&dir, "sparse-1t");
    println!("  1 TiB sparse   new {:>10.3?}   old (not run: it reads 1 TiB of zeros)", new_tib);
    let new_dense = digest_file(&dir, "dense-1g");
    let (_, old_dense) = time(|| yoe::treehash::file_sha256(&root.join("dense-1g")).unwrap());
    println!("  1 GiB dense    new {:>10.3?}   old {:>10.3?}", new_dense, old_dense);
    println!(
        "  ratio dense/sparse (new): {:.0}x; new/old on dense: {:.2}",
        new_dense.as_secs_f64() / new_sparse.as_secs_f64(),
        new_dense.as_secs_f64() / old_dense.as_secs_f64()
    );

    println!("copy of the 1 GiB sparse file");
    let (a, b) = (root.join("from"), root.join("to"));
    std::fs::create_dir(&a).unwrap();
    std::fs::create_dir(&b).unwrap();
    std::fs::rename(root.join("sparse-1g"), a.join("f")).unwrap();
    let (stats, t_new) = time(|| {
        yoe::fsx::copy::copy_tree(&Dir::open(&a).unwrap(), &Dir::open(&b).unwrap(), yoe::fsx::copy::CopyMode::Copy)
            .unwrap()
    });
    let blocks_new = std::fs::metadata(b.join("f")).unwrap().blocks();
    let (_, t_old) = time(|| std::fs::copy(a.join("f"), root.join("std-copy")).unwrap());
    let blocks_old = std::fs::metadata(root.join("std-copy")).unwrap().blocks();
    let blocks_src = std::fs::metadata(a.join("f")).unwrap().blocks();
    println!(
        "  fsx::copy {:>10.3?}, {} bytes of data copied, {} blocks of 512 B (source: {})",
        t_new, stats.bytes, blocks_new, blocks_src
    );
    println!("  std::fs::copy {:>10.3?}, {} blocks of 512 B", t_old, blocks_old);
    std::fs::remove_file(root.join("std-copy")).unwrap();

    println!("removal of a 2,500-deep tree");
    let d1 = root.join("deep1");
    std::fs::create_dir(&d1).unwrap();
    deep(&d1, 2500);
    let (_, t_rm) = time(|| yoe::fsx::remove::remove_path(&d1).unwrap());
    let d2 = root.join("deep2");
    std::fs::create_dir(&d2).unwrap();
    deep(&d2, 2500);
    let (r, t_std) = time(|| std::fs::remove_dir_all(&d2));
    println!("  fsx::remove {:>10.3?}; std::fs::remove_dir_all {:>10.3?} ({:?})", t_rm, t_std, r.map(|_| "ok"));
}
