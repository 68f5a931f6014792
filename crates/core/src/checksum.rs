//! Multihash checksums, as used by the STAC file extension (`file:checksum`).

use sha2::{Digest, Sha256};
use std::io::Read;

/// Multihash code of SHA2-256 followed by the digest length (32 bytes).
const SHA2_256_PREFIX: &str = "1220";

/// Hashes everything `reader` yields and returns the SHA2-256 multihash as
/// lowercase hex (`1220` + 64 hex digits).
pub fn sha256_multihash(mut reader: impl Read) -> std::io::Result<String> {
    thread_local! {
        // Kept for the thread: a fresh megabyte, zeroed, per small file
        // cost more than hashing it.
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let mut hasher = Sha256::new();
    BUF.with(|buf| -> std::io::Result<()> {
        let mut buf = buf.borrow_mut();
        buf.resize(1 << 20, 0);
        loop {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
            hasher.update(&buf[..n]);
        }
    })?;
    let digest = hasher.finalize();
    let mut out = String::with_capacity(SHA2_256_PREFIX.len() + 64);
    out.push_str(SHA2_256_PREFIX);
    for byte in digest {
        out.push_str(&format!("{byte:02x}"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::sha256_multihash;

    #[test]
    fn known_vector() {
        // SHA-256("abc") from FIPS 180-2.
        assert_eq!(
            sha256_multihash(&b"abc"[..]).unwrap(),
            "1220ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
