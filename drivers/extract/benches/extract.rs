//! Extraction speed, as ratios against baselines measured in the same run:
//! - `tar-crate`: the `tar` crate's own `Archive::unpack` over the same decoder (the cost of
//!   our checks, staging and bookkeeping);
//! - `gnu-tar` / `unzip`: the host's tools, if installed (C decoders, for scale).
//!
//! Run: `cargo bench -p yoe-extract --bench extract` (env `YOE_BENCH_MB`, default 64).

// A benchmark's results are its output.
#![allow(clippy::print_stdout)]

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use yoe_extract::{ArchiveKind, ExtractOptions, extract};

const RUNS: usize = 3;

fn text_like(n: usize, seed: u32) -> Vec<u8> {
    // Compressible but not trivial: words from a small vocabulary, pseudo-random order.
    const WORDS: [&[u8]; 12] = [
        b"int ", b"return ", b"static ", b"void ", b"(x) ", b"{\n", b"}\n", b"if ", b"0x1f, ", b"struct ", b"buf[i] ",
        b"; ",
    ];
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(n + 16);
    while v.len() < n {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        v.extend_from_slice(WORDS[(x % 12) as usize]);
    }
    v.truncate(n);
    v
}

/// A source-tree-like tar: many small files in nested dirs, a few big ones.
fn build_tar(total_mb: usize) -> (Vec<u8>, usize) {
    let mut b = tar::Builder::new(Vec::new());
    let mut files = 0;
    let mut bytes = 0;
    let target = total_mb << 20;
    let mut i = 0u32;
    while bytes < target {
        let size = if i.is_multiple_of(100) { 2 << 20 } else { 4096 + (i as usize * 7919) % 20_000 };
        let data = text_like(size, i);
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_size(data.len() as u64);
        h.set_entry_type(tar::EntryType::Regular);
        let path = format!("pkg-1.0/d{}/s{}/f{i}.c", i % 17, i % 5);
        b.append_data(&mut h, path, &data[..]).unwrap();
        bytes += size;
        files += 1;
        i += 1;
    }
    (b.into_inner().unwrap(), files)
}

fn build_zip(tar: &[u8]) -> Vec<u8> {
    let mut ar = tar::Archive::new(tar);
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o644);
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        w.start_file(name, opts).unwrap();
        std::io::copy(&mut e, &mut w).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn compress(kind: ArchiveKind, tar: &[u8]) -> Vec<u8> {
    match kind {
        ArchiveKind::Tar => tar.to_vec(),
        ArchiveKind::TarGz => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
            e.write_all(tar).unwrap();
            e.finish().unwrap()
        }
        ArchiveKind::TarXz => {
            let mut w = lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::with_preset(6)).unwrap();
            w.write_all(tar).unwrap();
            w.finish().unwrap()
        }
        ArchiveKind::TarBz2 => {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::new(9));
            e.write_all(tar).unwrap();
            e.finish().unwrap()
        }
        ArchiveKind::TarZst => ruzstd::encoding::compress_to_vec(tar, ruzstd::encoding::CompressionLevel::Fastest),
        ArchiveKind::Zip => build_zip(tar),
        ArchiveKind::Plain => unreachable!(),
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// CPU time used so far by this process and its waited-for children (user + system), from
/// /proc/self/stat, in clock ticks of 10 ms (`CLK_TCK` is 100 on Linux x86_64). CPU time
/// is much less disturbed than wall time by other work on a busy machine.
fn cpu_now() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_comm = stat.rsplit(')').next().unwrap_or_default();
    // Fields after the command: state is field 3; utime, stime, cutime, cstime are 14-17.
    let ticks: u64 = after_comm.split_whitespace().skip(11).take(4).filter_map(|f| f.parse::<u64>().ok()).sum();
    Duration::from_millis(ticks * 10)
}

/// Median wall time and median CPU time of `RUNS` runs, each into a fresh directory.
fn time(mut f: impl FnMut(&Path)) -> (Duration, Duration) {
    let mut wall = Vec::new();
    let mut cpu = Vec::new();
    for _ in 0..RUNS {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("dest");
        let (t, c) = (Instant::now(), cpu_now());
        f(&dest);
        wall.push(t.elapsed());
        cpu.push(cpu_now().saturating_sub(c));
    }
    (median(wall), median(cpu))
}

fn tar_crate_unpack(kind: ArchiveKind, archive: &Path, dest: &Path) {
    let f = std::io::BufReader::new(std::fs::File::open(archive).unwrap());
    let r: Box<dyn std::io::Read> = match kind {
        ArchiveKind::Tar => Box::new(f),
        ArchiveKind::TarGz => Box::new(flate2::bufread::MultiGzDecoder::new(f)),
        ArchiveKind::TarXz => Box::new(lzma_rust2::XzReader::new(f, true)),
        ArchiveKind::TarBz2 => Box::new(bzip2::bufread::MultiBzDecoder::new(f)),
        ArchiveKind::TarZst => Box::new(ruzstd::decoding::StreamingDecoder::new(f).unwrap()),
        _ => unreachable!(),
    };
    std::fs::create_dir(dest).unwrap();
    tar::Archive::new(r).unpack(dest).unwrap();
}

fn host_tool(kind: ArchiveKind, archive: &Path, dest: &Path) -> bool {
    std::fs::create_dir(dest).unwrap();
    let status = match kind {
        ArchiveKind::Zip => Command::new("unzip").arg("-q").arg(archive).arg("-d").arg(dest).status(),
        _ => {
            let flag = match kind {
                ArchiveKind::TarGz => Some("-z"),
                ArchiveKind::TarXz => Some("-J"),
                ArchiveKind::TarBz2 => Some("-j"),
                ArchiveKind::TarZst => Some("--zstd"),
                _ => None,
            };
            let mut c = Command::new("tar");
            c.args(flag).arg("-xf").arg(archive).arg("-C").arg(dest).arg("--strip-components=1").status()
        }
    };
    status.is_ok_and(|s| s.success())
}

fn main() {
    let mb: usize = std::env::var("YOE_BENCH_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(64);
    let (tar, files) = build_tar(mb);
    println!("tree: {files} files, {mb} MiB; median of {RUNS} runs");
    println!("times are wall / cpu; ratios are yoe over the baseline, by cpu time");
    println!(
        "{:<8} {:>9} {:>16} {:>16} {:>6} {:>16} {:>6}",
        "format", "size", "yoe", "tar-crate", "ratio", "host tool", "ratio"
    );
    let work = tempfile::tempdir().unwrap();
    for kind in [
        ArchiveKind::Tar,
        ArchiveKind::TarGz,
        ArchiveKind::TarXz,
        ArchiveKind::TarBz2,
        ArchiveKind::TarZst,
        ArchiveKind::Zip,
    ] {
        let bytes = compress(kind, &tar);
        let archive = work.path().join(format!("in.{kind}"));
        std::fs::write(&archive, &bytes).unwrap();
        let ours = time(|d| {
            extract(&archive, d, &ExtractOptions::default()).unwrap();
        });
        let baseline = (kind != ArchiveKind::Zip).then(|| time(|d| tar_crate_unpack(kind, &archive, d)));
        let mut host_ok = true;
        let host = time(|d| host_ok &= host_tool(kind, &archive, d));
        let ms = |(w, c): (Duration, Duration)| format!("{:.0}/{:.0} ms", w.as_secs_f64() * 1e3, c.as_secs_f64() * 1e3);
        let ratio = |(_, c): (Duration, Duration)| format!("{:.2}", ours.1.as_secs_f64() / c.as_secs_f64().max(1e-3));
        println!(
            "{:<8} {:>7}KB {:>16} {:>16} {:>6} {:>16} {:>6}",
            kind.to_string(),
            bytes.len() >> 10,
            ms(ours),
            baseline.map_or("-".into(), ms),
            baseline.map_or("-".into(), ratio),
            if host_ok { ms(host) } else { "n/a".into() },
            if host_ok { ratio(host) } else { "n/a".into() },
        );
    }
}
