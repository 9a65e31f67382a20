//! The subscriber list as CSV: `email,name[,status]` in, `email,name,status,created_at` out.
//!
//! A header row is optional on import (a first row whose first field is `email` is one). Status
//! defaults to `active`: an imported list is one the operator already has consent for.

use std::io::{Read, Write};

use super::{ImportRow, Result, Status, Store, StoreError};

/// Reads an import file into rows, one at a time (the file's bytes are held, a row at a time is
/// made): the first bad row ends the iteration with an error naming its line.
pub fn parse_import(mut reader: impl Read) -> Result<ImportRows> {
    let mut bytes = Vec::new();
    reader.read_to_end(&mut bytes).map_err(|e| StoreError::Import { line: 0, reason: e.to_string() })?;
    let csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(std::io::Cursor::new(bytes));
    Ok(ImportRows { csv, record: csv::StringRecord::new(), lines: LineCounter::default(), index: 0, failed: false })
}

/// The rows of an import file, as [`parse_import`] reads them.
pub struct ImportRows {
    csv: csv::Reader<std::io::Cursor<Vec<u8>>>,
    record: csv::StringRecord,
    // Lines are counted from byte offsets: the csv crate's own line numbers skip blank lines.
    lines: LineCounter,
    index: usize,
    failed: bool,
}

impl Iterator for ImportRows {
    type Item = Result<ImportRow>;

    fn next(&mut self) -> Option<Result<ImportRow>> {
        while !self.failed {
            let row = self.next_record().transpose()?;
            self.failed = row.is_err();
            match row {
                Ok(Some(row)) => return Some(Ok(row)),
                Ok(None) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
        None
    }
}

impl ImportRows {
    /// The next record: `Ok(None)` at the end, `Ok(Some(None))` for a record that is no row (a
    /// header, a blank line).
    fn next_record(&mut self) -> Result<Option<Option<ImportRow>>> {
        let read = self.csv.read_record(&mut self.record);
        let bytes = self.csv.get_ref().get_ref();
        let more = read.map_err(|e| StoreError::Import {
            line: e.position().map_or(0, |p| self.lines.line_at(bytes, p.byte())),
            reason: e.to_string(),
        })?;
        if !more {
            return Ok(None);
        }
        let index = self.index;
        self.index += 1;
        // A record's position is where the reader started it, before any blank lines it skipped.
        let line = self.record.position().map_or(index as u64 + 1, |p| self.lines.line_at(bytes, p.byte()));
        let record = &self.record;
        let email = record.get(0).unwrap_or_default();
        if (index == 0 && email.eq_ignore_ascii_case("email")) || record.iter().all(str::is_empty) {
            return Ok(Some(None));
        }
        if record.len() > 3 {
            let reason = format!("{} columns; expected email,name[,status]", record.len());
            return Err(StoreError::Import { line, reason });
        }
        let status = match record.get(2).filter(|s| !s.is_empty()) {
            Some(status) => status.parse::<Status>().map_err(|reason| StoreError::Import { line, reason })?,
            None => Status::Active,
        };
        let name = record.get(1).filter(|n| !n.is_empty()).map(str::to_owned);
        Ok(Some(Some(ImportRow { line, email: email.to_owned(), name, status })))
    }
}

/// The line of a byte offset, for offsets that never go back (the records of one reading):
/// each byte is looked at once, so naming lines costs nothing as the file grows.
#[derive(Default)]
struct LineCounter {
    /// Offset counted up to, and the line it is on (from 1).
    at: usize,
    line: u64,
}

impl LineCounter {
    /// The line of the first character at or after `byte` of `bytes` that is not a line break.
    fn line_at(&mut self, bytes: &[u8], byte: u64) -> u64 {
        let mut to = (byte as usize).min(bytes.len());
        while to < bytes.len() && matches!(bytes[to], b'\n' | b'\r') {
            to += 1;
        }
        if to < self.at {
            // Not expected (positions only grow), but stay right if it happens.
            return bytes[..to].iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        }
        self.line = self.line.max(1) + bytes[self.at..to].iter().filter(|&&b| b == b'\n').count() as u64;
        self.at = to;
        self.line
    }
}

/// Writes the subscribers as CSV with a header row, one row at a time.
pub fn export_csv(store: &Store, writer: impl Write) -> Result<()> {
    let mut csv = csv::Writer::from_writer(writer);
    let write_error = |e: csv::Error| StoreError::Write(e.to_string());
    csv.write_record(["email", "name", "status", "created_at"]).map_err(write_error)?;
    store.for_each_subscriber(None, |s| {
        csv.write_record([s.email.as_str(), s.name.as_deref().unwrap_or(""), s.status.as_str(), s.created_at.as_str()])
            .map_err(write_error)
    })?;
    csv.flush().map_err(|e| StoreError::Write(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<ImportRow>> {
        parse_import(text.as_bytes())?.collect()
    }

    #[test]
    fn parses_rows_with_optional_header_name_and_status() {
        let rows = parse("email,name,status\na@example.org,Anna Nowak\n\nb@example.org,,pending\n").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].line, rows[0].name.as_deref(), rows[0].status), (2, Some("Anna Nowak"), Status::Active));
        assert_eq!((rows[1].line, rows[1].name.as_deref(), rows[1].status), (4, None, Status::Pending));
    }

    #[test]
    fn names_the_line_of_a_bad_status_or_too_many_columns() {
        let err = parse("a@example.org,A\nb@example.org,B,vip\n").unwrap_err();
        assert!(err.to_string().starts_with("line 2: unknown status `vip`"), "{err}");
        let err = parse("a@example.org,A,active,x\n").unwrap_err();
        assert!(err.to_string().starts_with("line 1: 4 columns"), "{err}");
    }

    #[test]
    fn lines_are_named_right_deep_in_a_long_file_with_blank_lines_and_crlf() {
        let mut text = String::from("email,name\r\n");
        for i in 0..50_000 {
            text.push_str(&format!("r{i}@example.org,R{i}\r\n"));
            if i % 1000 == 0 {
                text.push_str("\r\n\r\n");
            }
        }
        text.push_str("zle@example.org,Z,vip\r\n");
        // Row i is on line 2 + i + 2 × (blank pairs before it): one pair after rows 0, 1000, 2000…
        let err = parse(&text).unwrap_err();
        assert!(err.to_string().starts_with("line 50102: unknown status `vip`"), "{err}");
        let rows = parse(&text[..text.find("zle@").unwrap()]).unwrap();
        assert_eq!((rows.len(), rows[1001].line, rows[1001].email.as_str()), (50_000, 1007, "r1001@example.org"));
    }
}
