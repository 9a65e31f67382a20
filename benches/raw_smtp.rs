//! The limit of sending on this machine: a minimal SMTP client with one pre-built message, no
//! templates, no store, no TLS — CONNECTIONS threads, each with one connection (`TCP_NODELAY`)
//! that sends its share of COUNT messages as kurier does, one transaction at a time and waiting
//! for every reply (MAIL FROM, RCPT TO, DATA, the message, `.`; RFC 5321 §3.3, no pipelining).
//! `cargo bench --bench raw_smtp -- PORT COUNT CONNECTIONS MESSAGE.eml`; prints `messages seconds`.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Instant;

/// Reads one reply (its continuation lines too) and checks its class.
fn reply(reader: &mut BufReader<TcpStream>, line: &mut String, expect: u8) {
    loop {
        line.clear();
        reader.read_line(line).expect("a reply");
        assert!(line.as_bytes().first() == Some(&expect), "unexpected reply: {line}");
        if line.as_bytes().get(3) != Some(&b'-') {
            return;
        }
    }
}

fn send_all(port: u16, first: usize, count: usize, step: usize, message: &[u8]) {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reply(&mut reader, &mut line, b'2');
    writer.write_all(b"EHLO bench.example.org\r\n").unwrap();
    reply(&mut reader, &mut line, b'2');
    for i in (first..count).step_by(step) {
        writer.write_all(b"MAIL FROM:<bench@example.org>\r\n").unwrap();
        reply(&mut reader, &mut line, b'2');
        writer.write_all(format!("RCPT TO:<r{i:06}@example.org>\r\n").as_bytes()).unwrap();
        reply(&mut reader, &mut line, b'2');
        writer.write_all(b"DATA\r\n").unwrap();
        reply(&mut reader, &mut line, b'3');
        writer.write_all(message).unwrap();
        reply(&mut reader, &mut line, b'2');
    }
    writer.write_all(b"QUIT\r\n").unwrap();
    reply(&mut reader, &mut line, b'2');
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let [port, count, connections, file] = &args[..] else {
        panic!("usage: raw_smtp PORT COUNT CONNECTIONS MESSAGE.eml");
    };
    let (port, count, connections): (u16, usize, usize) =
        (port.parse().unwrap(), count.parse().unwrap(), connections.parse().unwrap());
    // The message as it goes on the wire: CRLF line ends, dots stuffed, the end-of-data line.
    let text = std::fs::read_to_string(file).expect("message").replace("\r\n", "\n");
    let mut message = String::with_capacity(text.len() + 1024);
    for line in text.lines() {
        if line.starts_with('.') {
            message.push('.');
        }
        message.push_str(line);
        message.push_str("\r\n");
    }
    message.push_str(".\r\n");
    let started = Instant::now();
    std::thread::scope(|scope| {
        for k in 0..connections {
            let message = message.as_bytes();
            scope.spawn(move || send_all(port, k, count, connections, message));
        }
    });
    println!("{count} {}", started.elapsed().as_secs_f64());
}
