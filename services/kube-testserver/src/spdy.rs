//! SPDY/3.1 framing, as much as port-forward needs: kubectl 1.31+ tunnels a SPDY session inside
//! a WebSocket (`SPDY/3.1+portforward.k8s.io`), and a real API server answers it as the
//! kubelet would. The layout follows the SPDY/3 draft (section 2.2, framing; 2.6.10, header
//! blocks): every frame is an 8-byte header and a payload; header blocks are one zlib stream per
//! direction, primed with the draft's dictionary (`spdy_dictionary.bin`) and sync-flushed per frame.
//!
//! No window accounting: Go's spdystream, the client kubectl uses, neither honours nor sends
//! WINDOW_UPDATE, so those frames are read and ignored.

use bytes::{Buf, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};

/// The zlib dictionary for SPDY/3 header blocks (the draft's section 2.6.10.1, 1423 bytes).
const DICTIONARY: &[u8] = include_bytes!("spdy_dictionary.bin");
const VERSION: u16 = 3;
const FLAG_FIN: u8 = 0x01;
/// The largest payload a frame's 24-bit length can carry.
const MAX_PAYLOAD: usize = (1 << 24) - 1;
/// The largest header block this server inflates (zlib expands about 1000:1).
const MAX_HEADERS: usize = 64 << 10;

const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const PING: u16 = 6;
const GOAWAY: u16 = 7;

/// RST_STREAM status: the stream was refused or the session cannot carry it.
pub const REFUSED_STREAM: u32 = 3;

#[derive(Debug, PartialEq)]
pub enum Frame {
    /// A stream opened by the peer, with its (lower-case) headers.
    SynStream {
        id: u32,
        fin: bool,
        headers: Vec<(String, String)>,
    },
    Data {
        id: u32,
        fin: bool,
        data: Vec<u8>,
    },
    Reset {
        id: u32,
    },
    Ping(u32),
    GoAway,
    /// SETTINGS, WINDOW_UPDATE, HEADERS, SYN_REPLY: nothing a port-forward server acts on.
    Ignored,
}

/// One side of a SPDY session: frames in from a byte stream, frames out as bytes.
pub struct Session {
    input: BytesMut,
    inflate: Decompress,
    deflate: Compress,
}

impl Default for Session {
    fn default() -> Self {
        let mut deflate = Compress::new(Compression::default(), true);
        deflate.set_dictionary(DICTIONARY).expect("a fresh zlib stream takes a dictionary");
        Self { input: BytesMut::new(), inflate: Decompress::new(true), deflate }
    }
}

impl Session {
    /// Adds bytes as they arrive (a WebSocket message may hold part of a frame, or several).
    pub fn push(&mut self, bytes: &[u8]) {
        self.input.extend_from_slice(bytes);
    }

    /// The next whole frame, if one has arrived.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, String> {
        if self.input.len() < 8 {
            return Ok(None);
        }
        let head = &self.input[..8];
        let flags = head[4];
        let len = u32::from_be_bytes([0, head[5], head[6], head[7]]) as usize;
        if self.input.len() < 8 + len {
            return Ok(None);
        }
        let control = head[0] & 0x80 != 0;
        let first = u32::from_be_bytes([head[0] & 0x7f, head[1], head[2], head[3]]);
        self.input.advance(8);
        let payload = self.input.split_to(len);
        if !control {
            return Ok(Some(Frame::Data { id: first, fin: flags & FLAG_FIN != 0, data: payload.to_vec() }));
        }
        let (version, kind) = ((first >> 16) as u16, first as u16);
        if version != VERSION {
            return Err(format!("SPDY version {version} is not supported (only 3)"));
        }
        let word = |at: usize| -> Result<u32, String> {
            payload
                .get(at..at + 4)
                .map(|b| u32::from_be_bytes([b[0] & 0x7f, b[1], b[2], b[3]]))
                .ok_or_else(|| format!("SPDY control frame {kind} is too short ({len} bytes)"))
        };
        Ok(Some(match kind {
            SYN_STREAM => {
                let id = word(0)?;
                let block = payload.get(10..).ok_or("SPDY SYN_STREAM is too short")?;
                let headers = parse_headers(&self.inflate(block)?)?;
                Frame::SynStream { id, fin: flags & FLAG_FIN != 0, headers }
            }
            RST_STREAM => Frame::Reset { id: word(0)? },
            PING => Frame::Ping(word(0)?),
            GOAWAY => Frame::GoAway,
            _ => Frame::Ignored,
        }))
    }

    /// SYN_REPLY with no headers: the stream is accepted.
    pub fn syn_reply(&mut self, id: u32) -> Vec<u8> {
        let block = self.deflate(&0u32.to_be_bytes());
        let mut payload = id.to_be_bytes().to_vec();
        payload.extend_from_slice(&block);
        control(SYN_REPLY, 0, &payload)
    }

    fn inflate(&mut self, block: &[u8]) -> Result<Vec<u8>, String> {
        let mut out = Vec::with_capacity(block.len() * 4 + 256);
        let mut rest = block;
        loop {
            if out.capacity() - out.len() < 256 {
                out.reserve(out.capacity());
            }
            let (in_before, out_before) = (self.inflate.total_in(), out.len());
            match self.inflate.decompress_vec(rest, &mut out, FlushDecompress::Sync) {
                Ok(_) => {}
                Err(e) if e.needs_dictionary().is_some() => {
                    self.inflate.set_dictionary(DICTIONARY).map_err(|e| format!("SPDY header dictionary: {e}"))?;
                }
                Err(e) => return Err(format!("SPDY header block: {e}")),
            }
            rest = &rest[(self.inflate.total_in() - in_before) as usize..];
            let filled = out.len() == out.capacity();
            if rest.is_empty() && !filled {
                return Ok(out);
            }
            if out.len() > MAX_HEADERS {
                return Err(format!("SPDY header block inflates past {MAX_HEADERS} bytes"));
            }
            if out.len() == out_before && self.inflate.total_in() == in_before && !filled {
                return Err("SPDY header block: the zlib stream makes no progress".into());
            }
        }
    }

    fn deflate(&mut self, block: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(block.len() + 64);
        let mut rest = block;
        loop {
            let before = self.deflate.total_in();
            self.deflate.compress_vec(rest, &mut out, FlushCompress::Sync).expect("zlib compresses into a buffer");
            rest = &rest[(self.deflate.total_in() - before) as usize..];
            if rest.is_empty() && out.len() < out.capacity() {
                return out;
            }
            out.reserve(64);
        }
    }
}

/// A data frame; `fin` closes the sender's half of the stream. `data` is at most 16 MiB.
pub fn data(id: u32, data: &[u8], fin: bool) -> Vec<u8> {
    debug_assert!(data.len() <= MAX_PAYLOAD);
    let mut out = Vec::with_capacity(8 + data.len());
    out.extend_from_slice(&(id & 0x7fff_ffff).to_be_bytes());
    out.push(if fin { FLAG_FIN } else { 0 });
    out.extend_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(data);
    out
}

/// The answer to a PING: the same frame back.
pub fn ping(id: u32) -> Vec<u8> {
    control(PING, 0, &id.to_be_bytes())
}

pub fn reset(id: u32, status: u32) -> Vec<u8> {
    control(RST_STREAM, 0, &[id.to_be_bytes(), status.to_be_bytes()].concat())
}

fn control(kind: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&(0x8000 | VERSION).to_be_bytes());
    out.extend_from_slice(&kind.to_be_bytes());
    out.push(flags);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(payload);
    out
}

/// A decompressed header block: a count, then length-prefixed names and values (32-bit each).
fn parse_headers(block: &[u8]) -> Result<Vec<(String, String)>, String> {
    fn take<'a>(b: &mut &'a [u8], what: &str) -> Result<&'a [u8], String> {
        let err = || format!("SPDY header block ends inside a {what}");
        let n = b.get(..4).map(|n| u32::from_be_bytes([n[0], n[1], n[2], n[3]]) as usize).ok_or_else(err)?;
        let v = b.get(4..4 + n).ok_or_else(err)?;
        *b = &b[4 + n..];
        Ok(v)
    }
    let mut b = block;
    let count = match b.get(..4) {
        Some(n) => u32::from_be_bytes([n[0], n[1], n[2], n[3]]),
        None => return Err("empty SPDY header block".into()),
    };
    b = &b[4..];
    let mut out = Vec::new();
    for _ in 0..count {
        let name = String::from_utf8_lossy(take(&mut b, "name")?).to_ascii_lowercase();
        // Several values of one name are joined with NUL; port-forward's headers have one each.
        let value = String::from_utf8_lossy(take(&mut b, "value")?).split('\0').next().unwrap_or_default().to_string();
        out.push((name, value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A SYN_STREAM as Go's framer writes it: its own zlib stream, primed with the dictionary.
    fn syn_stream(deflate: &mut Compress, id: u32, headers: &[(&str, &str)]) -> Vec<u8> {
        let mut block = (headers.len() as u32).to_be_bytes().to_vec();
        for (k, v) in headers {
            for s in [k, v] {
                block.extend_from_slice(&(s.len() as u32).to_be_bytes());
                block.extend_from_slice(s.as_bytes());
            }
        }
        let mut z = Vec::with_capacity(block.len() + 64);
        deflate.compress_vec(&block, &mut z, FlushCompress::Sync).unwrap();
        let mut payload = id.to_be_bytes().to_vec();
        payload.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        payload.extend_from_slice(&z);
        control(SYN_STREAM, 0, &payload)
    }

    #[test]
    fn frames_are_read_across_message_boundaries_and_header_blocks_share_one_stream() {
        let mut client = Compress::new(Compression::best(), true);
        client.set_dictionary(DICTIONARY).unwrap();
        let mut wire = syn_stream(&mut client, 1, &[("streamtype", "error"), ("port", "8080"), ("requestid", "0")]);
        wire.extend(syn_stream(&mut client, 3, &[("streamtype", "data"), ("port", "8080"), ("requestid", "0")]));
        wire.extend(data(3, b"hello", true));
        wire.extend(ping(1));
        let mut s = Session::default();
        let mut frames = Vec::new();
        for chunk in wire.chunks(7) {
            s.push(chunk);
            while let Some(f) = s.next_frame().unwrap() {
                frames.push(f);
            }
        }
        let h = |t: &str| {
            vec![("streamtype".into(), t.into()), ("port".into(), "8080".into()), ("requestid".into(), "0".into())]
        };
        assert_eq!(
            frames,
            [
                Frame::SynStream { id: 1, fin: false, headers: h("error") },
                Frame::SynStream { id: 3, fin: false, headers: h("data") },
                Frame::Data { id: 3, fin: true, data: b"hello".to_vec() },
                Frame::Ping(1),
            ]
        );
    }

    #[test]
    fn replies_decompress_with_the_dictionary_as_a_go_client_reads_them() {
        let mut s = Session::default();
        let mut reader = Decompress::new(true);
        for id in [1u32, 3] {
            let frame = s.syn_reply(id);
            assert_eq!(&frame[..4], &[0x80, 3, 0, 2]);
            assert_eq!(u32::from_be_bytes(frame[8..12].try_into().unwrap()), id);
            let mut out = Vec::with_capacity(64);
            let mut block = &frame[12..];
            while !block.is_empty() {
                let before = reader.total_in();
                if let Err(e) = reader.decompress_vec(block, &mut out, FlushDecompress::Sync) {
                    assert!(e.needs_dictionary().is_some(), "{e}");
                    reader.set_dictionary(DICTIONARY).unwrap();
                }
                block = &block[(reader.total_in() - before) as usize..];
            }
            assert_eq!(out, [0, 0, 0, 0], "an empty header block");
        }
    }

    #[test]
    fn bad_input_is_named() {
        let mut s = Session::default();
        s.push(&control(SYN_STREAM, 0, &[0, 0, 0, 1]));
        assert!(s.next_frame().unwrap_err().contains("too short"));
        let mut s = Session::default();
        s.push(&[0x80, 2, 0, 1, 0, 0, 0, 0]);
        assert!(s.next_frame().unwrap_err().contains("version 2"));
        // A header block that inflates to megabytes is refused, not allocated.
        let mut bomb = Compress::new(Compression::best(), true);
        bomb.set_dictionary(DICTIONARY).unwrap();
        let mut z = Vec::with_capacity(1 << 16);
        bomb.compress_vec(&vec![0u8; 8 << 20], &mut z, FlushCompress::Sync).unwrap();
        let mut payload = 1u32.to_be_bytes().to_vec();
        payload.extend_from_slice(&[0; 6]);
        payload.extend_from_slice(&z);
        let mut s = Session::default();
        s.push(&control(SYN_STREAM, 0, &payload));
        assert!(s.next_frame().unwrap_err().contains("inflates past"));
    }
}
