//! How an error is told: its message and each of its causes, each once.
//!
//! Library errors quote their cause in their own message (`cannot read x: No such file`) and
//! also return it from `source()`; printing the chain naively says every cause twice. Here a
//! cause is added only when the text so far does not already say it, and not when it only says
//! the cause before it again in more words (SQLite's `Error code 26: file is not a database`
//! under rusqlite's `file is not a database`).

/// `error: cause: cause…`, each said once.
pub fn each_cause_once(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut last = text.clone();
    let mut source = error.source();
    while let Some(inner) = source {
        let said = inner.to_string();
        if !text.contains(&said) && !said.contains(&last) {
            text.push_str(": ");
            text.push_str(&said);
        }
        last = said;
        source = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read x: {0}")]
    struct Quoting(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("cannot start")]
    struct Plain(#[source] std::io::Error);

    #[test]
    fn a_cause_the_message_already_quotes_is_not_said_again() {
        let io = || std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        assert_eq!(each_cause_once(&Quoting(io())), "cannot read x: no such file");
        assert_eq!(each_cause_once(&Plain(io())), "cannot start: no such file");
        // A cause that only restates the one before it in more words is left out.
        let low = std::io::Error::other("Error code 26: file is not a database");
        let mid = std::io::Error::new(std::io::ErrorKind::InvalidData, Restating(low));
        assert_eq!(each_cause_once(&Plain(mid)), "cannot start: file is not a database");
    }

    #[derive(Debug, thiserror::Error)]
    #[error("file is not a database")]
    struct Restating(#[source] std::io::Error);
}
