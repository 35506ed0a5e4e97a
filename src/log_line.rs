//! The log's writer: each line reaches stderr with its control characters
//! escaped, so text that came from outside (a database's error, an exec
//! resolver's stderr, a header) cannot end the line and forge another, or
//! drive the terminal.

use std::io::{self, Write};

/// Writes one formatted log line at a time, escaping what it must.
pub struct Escaped<W>(pub W);

impl<W: Write> Write for Escaped<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let body = buf.strip_suffix(b"\n").unwrap_or(buf);
        if body.iter().any(|&byte| needs_escape(byte)) {
            self.0.write_all(&escape(buf))
        } else {
            // Most lines: nothing to escape, nothing to copy.
            self.0.write_all(buf)
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// Control bytes but tab.
fn needs_escape(byte: u8) -> bool {
    (byte < 0x20 && byte != b'\t') || byte == 0x7f
}

/// `line` with every control byte but tab, and the newline ending it, as `\xNN`.
fn escape(line: &[u8]) -> Vec<u8> {
    let (body, end) = match line.strip_suffix(b"\n") {
        Some(body) => (body, &b"\n"[..]),
        None => (line, &b""[..]),
    };
    let mut out = Vec::with_capacity(line.len() + 16);
    for &byte in body {
        if needs_escape(byte) {
            out.extend_from_slice(format!("\\x{byte:02x}").as_bytes());
        } else {
            out.push(byte);
        }
    }
    out.extend_from_slice(end);
    out
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::{Escaped, escape};

    #[test]
    fn a_line_stays_one_line() {
        assert_eq!(escape(b"boom\n2026 INFO forged\r\x1b[2J\n"), b"boom\\x0a2026 INFO forged\\x0d\\x1b[2J\n".to_vec());
        assert_eq!(escape("tab\tand ünïcode\n".as_bytes()), "tab\tand ünïcode\n".as_bytes().to_vec());
    }

    #[test]
    fn the_writer_passes_clean_lines_as_they_are_and_escapes_the_rest() {
        let mut out = Escaped(Vec::new());
        out.write_all(b"clean line\n").unwrap();
        out.write_all(b"forged\rline\n").unwrap();
        assert_eq!(out.0, b"clean line\nforged\\x0dline\n".to_vec());
    }
}
