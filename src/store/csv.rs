//! The subscriber list as CSV: `email,name[,status]` in, `email,name,status,created_at` out.
//!
//! A header row is optional on import (a first row whose first field is `email` is one). Status
//! defaults to `active`: an imported list is one the operator already has consent for.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::rc::Rc;

use super::{ImportRow, Result, Status, Store, StoreError};

/// Reads an import file as rows, one at a time, as it is read (a list of a million is never
/// all in memory): the first bad row ends the iteration with an error naming its line.
pub fn parse_import<R: Read>(reader: R) -> Result<ImportRows<R>> {
    let window = Window::default();
    let csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(Tee { inner: reader, window: window.clone() });
    Ok(ImportRows {
        csv,
        record: csv::StringRecord::new(),
        lines: LineCounter::default(),
        window,
        index: 0,
        failed: false,
    })
}

/// The rows of an import file, as [`parse_import`] reads them.
pub struct ImportRows<R> {
    csv: csv::Reader<Tee<R>>,
    record: csv::StringRecord,
    // Lines are counted from byte offsets: the csv crate's own line numbers skip blank lines.
    lines: LineCounter,
    window: Window,
    index: usize,
    failed: bool,
}

impl<R: Read> Iterator for ImportRows<R> {
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

impl<R: Read> ImportRows<R> {
    /// The next record: `Ok(None)` at the end, `Ok(Some(None))` for a record that is no row (a
    /// header, a blank line).
    fn next_record(&mut self) -> Result<Option<Option<ImportRow>>> {
        let read = self.csv.read_record(&mut self.record);
        let mut window = self.window.0.borrow_mut();
        let more = read.map_err(|e| StoreError::Import {
            line: e.position().map_or(0, |p| self.lines.line_at(&mut window, p.byte())),
            reason: e.to_string(),
        })?;
        if !more {
            return Ok(None);
        }
        let index = self.index;
        self.index += 1;
        // A record's position is where the reader started it, before any blank lines it skipped.
        let line = self.record.position().map_or(index as u64 + 1, |p| self.lines.line_at(&mut window, p.byte()));
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

/// The bytes the CSV reader has read that the line counter has not passed yet: what it
/// buffers ahead of the record it returns, and no more.
#[derive(Clone, Default)]
struct Window(Rc<RefCell<Unread>>);

#[derive(Default)]
struct Unread {
    /// The file offset of `bytes[0]`.
    start: u64,
    bytes: VecDeque<u8>,
}

/// The file, with each byte read also put into the [`Window`].
struct Tee<R> {
    inner: R,
    window: Window,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.window.0.borrow_mut().bytes.extend(&buf[..n]);
        Ok(n)
    }
}

/// The line of a byte offset, for offsets that never go back (the records of one reading):
/// each byte is looked at once, then dropped from the window, so naming lines costs nothing
/// as the file grows.
#[derive(Default)]
struct LineCounter {
    /// The line (from 1) of the window's start.
    line: u64,
}

impl LineCounter {
    /// The line of the first character at or after `byte` that is not a line break.
    fn line_at(&mut self, window: &mut Unread, byte: u64) -> u64 {
        let end = window.start + window.bytes.len() as u64;
        let mut to = byte.clamp(window.start, end);
        while to < end && matches!(window.bytes[(to - window.start) as usize], b'\n' | b'\r') {
            to += 1;
        }
        let passed = (to - window.start) as usize;
        self.line = self.line.max(1) + window.bytes.drain(..passed).filter(|&b| b == b'\n').count() as u64;
        window.start = to;
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
    use crate::store::tests::on_each_backend;
    use chrono::{DateTime, Utc};

    fn at(time: &str) -> DateTime<Utc> {
        time.parse().unwrap()
    }

    /// The export of `store`, written where a tokio runtime is entered (as the daemon's
    /// blocking threads are) or not (the command line).
    fn export(store: &Store, in_runtime: bool) -> String {
        let mut out = Vec::new();
        if in_runtime {
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let _entered = runtime.enter();
            export_csv(store, &mut out).unwrap();
        } else {
            export_csv(store, &mut out).unwrap();
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_streamed_export_is_row_for_row_the_list_as_it_was_written_whole() {
        on_each_backend(|mut store| {
            store
                .add_subscriber(
                    "Anna@Example.org",
                    Some("Anna \"Ania\" Nowak"),
                    Status::Active,
                    at("2026-11-01T08:00:00Z"),
                )
                .unwrap();
            store.add_subscriber("jan@example.org", None, Status::Pending, at("2026-11-02T09:30:00Z")).unwrap();
            store
                .add_subscriber(
                    "ela@example.org",
                    Some("Ela, z przecinkiem"),
                    Status::Active,
                    at("2026-11-03T10:00:00Z"),
                )
                .unwrap();
            store
                .add_subscriber("zażółć@example.org", Some("Gęślą Jaźń"), Status::Active, at("2026-11-04T11:00:00Z"))
                .unwrap();
            store.unsubscribe_email("jan@example.org", at("2026-11-05T12:00:00Z")).unwrap();
            let rows = [ImportRow {
                line: 2,
                email: "ola@example.org".into(),
                name: Some("Ola".into()),
                status: Status::Active,
            }];
            store.import(rows.map(Ok), at("2026-11-06T13:00:00Z")).unwrap();
            // What `export` wrote when it loaded the whole list first (before it streamed).
            let expected = "email,name,status,created_at\n\
                            Anna@Example.org,\"Anna \"\"Ania\"\" Nowak\",active,2026-11-01T08:00:00.000Z\n\
                            jan@example.org,,unsubscribed,2026-11-02T09:30:00.000Z\n\
                            ela@example.org,\"Ela, z przecinkiem\",active,2026-11-03T10:00:00.000Z\n\
                            zażółć@example.org,Gęślą Jaźń,active,2026-11-04T11:00:00.000Z\n\
                            ola@example.org,Ola,active,2026-11-06T13:00:00.000Z\n";
            assert_eq!(export(&store, false), expected);
            assert_eq!(export(&store, true), expected, "inside a runtime");
            // On one of a runtime's blocking threads, where the store's calls run directly.
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().unwrap();
            let on_blocking = runtime.block_on(async {
                let store = store.reopen();
                crate::store::blocking(move || export(&store, false)).await
            });
            assert_eq!(on_blocking, expected, "on a blocking thread");
            let mut active = Vec::new();
            store
                .for_each_subscriber(Some(Status::Active), |s| {
                    active.push(s.email);
                    Ok::<(), StoreError>(())
                })
                .unwrap();
            assert_eq!(active, ["Anna@Example.org", "ela@example.org", "zażółć@example.org", "ola@example.org"]);
        });
    }

    #[test]
    fn a_walk_of_many_rows_inside_a_runtime_keeps_the_order_and_stops_at_an_error() {
        on_each_backend(|mut store| {
            // More rows than a PostgreSQL walk inside a runtime holds at once (ROWS_IN_FLIGHT).
            let rows = (2..1502u64).map(|line| {
                Ok(ImportRow { line, email: format!("r{line:05}@example.org"), name: None, status: Status::Active })
            });
            store.import(rows, at("2026-11-06T13:00:00Z")).unwrap();
            let whole = export(&store, false);
            assert_eq!(whole.lines().count(), 1501);
            assert_eq!(export(&store, true), whole);
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let _entered = runtime.enter();
            let mut seen = 0;
            let stopped = store.for_each_subscriber(None, |_| {
                seen += 1;
                if seen == 700 { Err(StoreError::Write("enough".into())) } else { Ok(()) }
            });
            assert!(matches!(stopped, Err(StoreError::Write(ref e)) if e == "enough"), "{stopped:?}");
            assert_eq!(seen, 700);
            // The connection is usable again after the walk it left.
            assert_eq!(store.subscribers(None).unwrap().len(), 1500);
        });
    }

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

    #[test]
    fn a_long_file_is_read_as_it_goes_keeping_only_the_bytes_ahead_of_the_row() {
        let text: String = (0..100_000).map(|i| format!("r{i}@example.org,R{i}\n")).collect();
        let mut rows = parse_import(text.as_bytes()).unwrap();
        let mut count = 0;
        // Not `for`: the window is looked at between rows.
        loop {
            let Some(row) = rows.next() else { break };
            assert_eq!(row.unwrap().line, count + 1);
            count += 1;
            let held = rows.window.0.borrow().bytes.len();
            assert!(held <= 64 * 1024, "{held} bytes held at row {count} of {} bytes", text.len());
        }
        assert_eq!(count, 100_000);
    }
}
