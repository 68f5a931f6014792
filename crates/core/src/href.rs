//! Relative hrefs from file names and back (RFC 3986): a name with spaces,
//! non-ASCII letters, `%`, `#` or `?` is written percent-encoded in links
//! and asset hrefs, so every reader resolves it to the same file the
//! catalog holds under the name itself.

/// Percent-encodes a relative path for an href: each segment keeps the
/// characters RFC 3986 allows in a path segment (unreserved, sub-delims,
/// `:` and `@`); `/` separates segments.
pub fn encode(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        let keep = byte.is_ascii_alphanumeric()
            || matches!(
                byte,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'@'
                    | b'/'
            );
        if keep {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Decodes a relative href into the path it names (`%XX` escapes undone);
/// `None` when an escape is malformed or the bytes are not UTF-8.
pub fn decode(href: &str) -> Option<String> {
    let bytes = href.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `text` with the user information of every URL in it (`user:password@`
/// after `scheme://`) replaced by `***`, for messages and logs.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let authority_end = tail
            .find(|c: char| {
                c == '/' || c == '?' || c == '#' || c.is_whitespace() || c == '"' || c == '\''
            })
            .unwrap_or(tail.len());
        let authority = &tail[..authority_end];
        match authority.rfind('@') {
            Some(user_end) => {
                out.push_str("***");
                out.push_str(&authority[user_end..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[authority_end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_urls_are_redacted() {
        assert_eq!(
            redact("error: http://user:PASS@127.0.0.1:9/x failed; see s3://bucket/a@b"),
            "error: http://***@127.0.0.1:9/x failed; see s3://bucket/a@b"
        );
        assert_eq!(redact("no url here"), "no url here");
        assert_eq!(redact("https://h.org/p"), "https://h.org/p");
    }

    #[test]
    fn names_round_trip_through_hrefs() {
        for name in [
            "a.tif",
            "ü/ü.json",
            "100%.tif",
            "a#b?.tif",
            "with space.tif",
        ] {
            let href = encode(name);
            assert!(!href.contains(['#', '?', ' ']), "{href}");
            assert!(href.is_ascii(), "{href}");
            assert_eq!(decode(&href).as_deref(), Some(name));
        }
        assert_eq!(encode("items/ü/ü.json"), "items/%C3%BC/%C3%BC.json");
        assert_eq!(encode("./a-b_c.tif"), "./a-b_c.tif");
        assert_eq!(decode("%zz"), None);
    }
}
