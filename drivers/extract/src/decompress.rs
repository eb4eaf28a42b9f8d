//! Decompressing readers for the tar stream (gzip, xz, bzip2, zstd; all pure Rust) and the
//! cap on how many decompressed bytes may come out of them. Trusts none of the bytes.

use std::fmt;
use std::io::{self, BufRead, Read};

use ruzstd::decoding::FrameDecoder;
use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};

/// The compression around a tar stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
    Xz,
    Bzip2,
    Zstd,
}

/// Largest xz dictionary accepted, in KiB (256 MiB; `xz -9` uses 64 MiB).
const XZ_MEM_LIMIT_KIB: u32 = 256 * 1024;
/// Largest zstd window accepted (128 MiB, ruzstd's default; `zstd -19` uses 8 MiB).
const ZSTD_MAX_WINDOW: u64 = 128 << 20;

/// Wrap `inner` in the decoder for `compression`. Multi-member gzip, multi-stream xz and
/// bzip2, and multi-frame zstd (with skippable frames) are read to their end, and every
/// checksum the format carries is verified.
pub(crate) fn decoder<'a, R: BufRead + 'a>(compression: Compression, inner: R) -> Box<dyn Read + 'a> {
    match compression {
        Compression::None => Box::new(inner),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(inner)),
        Compression::Xz => Box::new(lzma_rust2::XzReader::new_mem_limit(inner, true, XZ_MEM_LIMIT_KIB)),
        Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(inner)),
        Compression::Zstd => Box::new(ZstdFrames::new(inner)),
    }
}

/// Marker inside an `io::Error` raised when a [`CappedReader`] goes over its cap.
#[derive(Debug)]
pub(crate) struct OverCap {
    pub(crate) cap: u64,
}

impl fmt::Display for OverCap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "decompressed stream exceeds {} bytes", self.cap)
    }
}

impl std::error::Error for OverCap {}

/// Is this I/O error the cap of a [`CappedReader`]?
pub(crate) fn over_cap(err: &io::Error) -> Option<u64> {
    err.get_ref().and_then(|e| e.downcast_ref::<OverCap>()).map(|o| o.cap)
}

/// Counts the bytes read through it and fails once more than `cap` have come out: the
/// guard against decompression bombs, whatever the archive's headers claim.
pub(crate) struct CappedReader<R> {
    inner: R,
    read: u64,
    cap: u64,
}

impl<R: Read> CappedReader<R> {
    pub(crate) fn new(inner: R, cap: u64) -> Self {
        CappedReader { inner, read: 0, cap }
    }
}

impl<R: Read> Read for CappedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read = self.read.saturating_add(n as u64);
        if self.read > self.cap {
            return Err(io::Error::other(OverCap { cap: self.cap }));
        }
        Ok(n)
    }
}

/// A zstd reader over every frame of the stream, verifying content checksums. ruzstd's
/// `StreamingDecoder` reads one frame and does not check the checksum, hence this.
struct ZstdFrames<R> {
    source: R,
    decoder: FrameDecoder,
    in_frame: bool,
    done: bool,
}

impl<R: BufRead> ZstdFrames<R> {
    fn new(source: R) -> Self {
        let mut decoder = FrameDecoder::new();
        decoder.set_max_window_size(ZSTD_MAX_WINDOW);
        ZstdFrames { source, decoder, in_frame: false, done: false }
    }

    /// Start the next frame; false at the clean end of the stream.
    fn next_frame(&mut self) -> io::Result<bool> {
        loop {
            if self.source.fill_buf()?.is_empty() {
                return Ok(false);
            }
            match self.decoder.reset(&mut self.source) {
                Ok(()) => return Ok(true),
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame { length, .. })) => {
                    let skipped = io::copy(&mut (&mut self.source).take(u64::from(length)), &mut io::sink())?;
                    if skipped != u64::from(length) {
                        return Err(invalid("zstd skippable frame is truncated"));
                    }
                }
                Err(e) => return Err(invalid(&format!("zstd frame header: {e}"))),
            }
        }
    }

    fn finish_frame(&mut self) -> io::Result<()> {
        if let Some(expected) = self.decoder.get_checksum_from_data() {
            let got = self.decoder.get_calculated_checksum();
            if got != Some(expected) {
                return Err(invalid("zstd content checksum mismatch"));
            }
        }
        self.in_frame = false;
        Ok(())
    }
}

impl<R: BufRead> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.done {
                return Ok(0);
            }
            if !self.in_frame {
                if self.next_frame()? {
                    self.in_frame = true;
                } else {
                    self.done = true;
                    continue;
                }
            }
            if self.decoder.can_collect() > 0 {
                return self.decoder.read(buf);
            }
            if self.decoder.is_finished() {
                self.finish_frame()?;
                continue;
            }
            self.decoder
                .decode_blocks(&mut self.source, ruzstd::decoding::BlockDecodingStrategy::UptoBlocks(1))
                .map_err(|e| invalid(&format!("zstd block: {e}")))?;
        }
    }
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufReader, Write};

    fn roundtrip(compression: Compression, compressed: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        decoder(compression, BufReader::new(compressed)).read_to_end(&mut out)?;
        Ok(out)
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn zstd(data: &[u8]) -> Vec<u8> {
        ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
    }

    #[test]
    fn multi_member_gzip_is_read_whole() {
        let mut two = gzip(b"hello ");
        two.extend(gzip(b"world"));
        assert_eq!(roundtrip(Compression::Gzip, &two).unwrap(), b"hello world");
    }

    #[test]
    fn multi_frame_zstd_with_skippable_frame() {
        let mut s = zstd(b"first ");
        // A skippable frame: magic 0x184D2A50, little-endian length 3, three bytes.
        s.extend([0x50, 0x2A, 0x4D, 0x18, 3, 0, 0, 0, 1, 2, 3]);
        s.extend(zstd(b"second"));
        assert_eq!(roundtrip(Compression::Zstd, &s).unwrap(), b"first second");
    }

    #[test]
    fn zstd_checksum_is_verified() {
        let data = vec![7u8; 10_000];
        let mut s = zstd(&data);
        // Flip a bit of the trailing content checksum if the encoder wrote one; else
        // corrupt the last block, which must fail too.
        let last = s.len() - 1;
        s[last] ^= 0x55;
        assert!(roundtrip(Compression::Zstd, &s).is_err());
    }

    #[test]
    fn corrupt_gzip_crc_fails() {
        let mut g = gzip(b"some data that is long enough");
        let n = g.len();
        g[n - 8] ^= 1; // CRC32 field of the trailer
        assert!(roundtrip(Compression::Gzip, &g).is_err());
    }

    #[test]
    fn cap_stops_reading() {
        let data = vec![0u8; 100_000];
        let mut r = CappedReader::new(&data[..], 1000);
        let err = io::copy(&mut r, &mut io::sink()).unwrap_err();
        assert_eq!(over_cap(&err), Some(1000));
        let mut r = CappedReader::new(&data[..], 100_000);
        assert_eq!(io::copy(&mut r, &mut io::sink()).unwrap(), 100_000);
    }
}
