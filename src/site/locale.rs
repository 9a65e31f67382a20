//! What changes with the site's `language`: dates, plural forms and the fixed strings of digests,
//! pages and feeds. PURE, so that `feed` uses it as well as `render`. Polish and English are complete; any other language falls back to English.
//!
//! Polish dates use the genitive month ("26 listopada 2026"); Polish plurals have three forms
//! (1 nowy wpis, 3 nowe wpisy, 5 nowych wpisów — CLDR's one/few/many).

use chrono::{DateTime, Datelike, FixedOffset};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locale {
    Polish,
    English,
}

/// The plural category of a count (CLDR names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plural {
    One,
    Few,
    Many,
}

/// Fixed strings of the built-in templates.
#[derive(Debug, Clone, Serialize)]
pub struct Strings {
    /// A greeting that needs no name: Polish would need the vocative of the name ("Anno"), which
    /// kurier cannot make, and the nominative ("Dzień dobry, Anna") reads as a form letter.
    pub greeting: &'static str,
    /// Whether the greeting may be followed by the subscriber's name as given.
    pub greet_by_name: bool,
    /// Never "since the last issue": the first issue has no last one.
    pub intro: &'static str,
    /// Over the related posts of each post in a digest.
    pub related: &'static str,
    /// Over the related-posts block at the end of a post in the feeds (`feed/content.rs`).
    pub also_like: &'static str,
    pub read_more: &'static str,
    pub view_in_browser: &'static str,
    pub unsubscribe: &'static str,
    pub unsubscribe_note: &'static str,
    pub new_posts_one: &'static str,
    pub new_posts_few: &'static str,
    pub new_posts_many: &'static str,
    // The pages of the subscription flow and the confirmation e-mail.
    pub subscribe_title: &'static str,
    pub subscribe_message: &'static str,
    pub subscribe_button: &'static str,
    pub email_label: &'static str,
    pub name_label: &'static str,
    pub check_inbox_title: &'static str,
    pub check_inbox_message: &'static str,
    pub confirm_title: &'static str,
    pub confirm_message: &'static str,
    pub confirm_button: &'static str,
    pub confirmed_title: &'static str,
    pub confirmed_message: &'static str,
    pub unsubscribe_title: &'static str,
    pub unsubscribe_message: &'static str,
    pub unsubscribe_button: &'static str,
    pub unsubscribed_title: &'static str,
    pub unsubscribed_message: &'static str,
    pub invalid_link_title: &'static str,
    pub invalid_link_message: &'static str,
    pub expired_link_message: &'static str,
    /// A confirmation link used already, or replaced by a newer one.
    pub used_link_message: &'static str,
    /// The store cannot be reached for the moment (`503`).
    pub unavailable_message: &'static str,
    pub invalid_email_message: &'static str,
    pub invalid_name_message: &'static str,
    /// An address at an IP literal (`a@[127.0.0.1]`), refused.
    pub address_literal_message: &'static str,
    pub too_many_requests_message: &'static str,
    pub send_failed_message: &'static str,
    pub error_title: &'static str,
    pub not_found_message: &'static str,
    pub confirm_email_subject: &'static str,
    pub confirm_email_intro: &'static str,
    pub confirm_email_ignore: &'static str,
}

const PL_MONTHS: [&str; 12] = [
    "stycznia",
    "lutego",
    "marca",
    "kwietnia",
    "maja",
    "czerwca",
    "lipca",
    "sierpnia",
    "września",
    "października",
    "listopada",
    "grudnia",
];
const EN_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

impl Locale {
    /// The locale of a BCP 47 tag.
    pub fn of(language: &str) -> Locale {
        match language.split('-').next().unwrap_or_default().to_ascii_lowercase().as_str() {
            "pl" => Locale::Polish,
            _ => Locale::English,
        }
    }

    /// "26 listopada 2026" / "26 November 2026".
    pub fn long_date(self, date: &DateTime<FixedOffset>) -> String {
        let months = match self {
            Locale::Polish => &PL_MONTHS,
            Locale::English => &EN_MONTHS,
        };
        format!("{} {} {}", date.day(), months[date.month0() as usize], date.year())
    }

    /// "26.11.2026" / "2026-11-26".
    pub fn short_date(self, date: &DateTime<FixedOffset>) -> String {
        match self {
            Locale::Polish => date.format("%d.%m.%Y").to_string(),
            Locale::English => date.format("%Y-%m-%d").to_string(),
        }
    }

    pub fn plural(self, n: u64) -> Plural {
        match self {
            Locale::Polish if n == 1 => Plural::One,
            Locale::Polish if (2..=4).contains(&(n % 10)) && !(12..=14).contains(&(n % 100)) => Plural::Few,
            Locale::Polish => Plural::Many,
            Locale::English if n == 1 => Plural::One,
            Locale::English => Plural::Many,
        }
    }

    pub fn strings(self) -> Strings {
        match self {
            Locale::Polish => Strings {
                greeting: "Dzień dobry",
                greet_by_name: false,
                intro: "Oto najnowsze wpisy:",
                related: "Powiązane wpisy",
                also_like: "Spodobają Ci się także",
                read_more: "Czytaj dalej",
                view_in_browser: "Otwórz w przeglądarce",
                unsubscribe: "Wypisz się",
                unsubscribe_note: "Ta wiadomość przychodzi, ponieważ ten adres zapisano na newsletter.",
                new_posts_one: "nowy wpis",
                new_posts_few: "nowe wpisy",
                new_posts_many: "nowych wpisów",
                subscribe_title: "Zapisz się na newsletter",
                subscribe_message: "Raz na jakiś czas wyślemy Ci e-mail z nowymi wpisami.",
                subscribe_button: "Zapisz mnie",
                email_label: "Adres e-mail",
                name_label: "Imię (opcjonalnie)",
                check_inbox_title: "Sprawdź skrzynkę",
                check_inbox_message: "Wysłaliśmy wiadomość z linkiem potwierdzającym. Kliknij go, aby dokończyć zapis.",
                confirm_title: "Potwierdź zapis",
                confirm_message: "Kliknij przycisk, aby potwierdzić zapis na newsletter.",
                confirm_button: "Potwierdzam",
                confirmed_title: "Zapis potwierdzony",
                confirmed_message: "Dziękujemy! Następne wydanie newslettera trafi do Twojej skrzynki.",
                unsubscribe_title: "Wypisz się z newslettera",
                unsubscribe_message: "Kliknij przycisk, aby przestać otrzymywać newsletter.",
                unsubscribe_button: "Wypisz mnie",
                unsubscribed_title: "Wypisano",
                unsubscribed_message: "Nie będziemy już wysyłać Ci newslettera.",
                invalid_link_title: "Nieprawidłowy link",
                invalid_link_message: "Ten link jest nieprawidłowy. Sprawdź, czy został skopiowany w całości.",
                expired_link_message: "Ten link wygasł. Zapisz się ponownie, aby otrzymać nowy.",
                used_link_message: "Ten link został już użyty albo zastąpił go nowszy. Jeśli zapis nie jest potwierdzony, zapisz się ponownie.",
                unavailable_message: "Usługa jest chwilowo niedostępna. Spróbuj ponownie za chwilę.",
                invalid_email_message: "To nie wygląda na poprawny adres e-mail.",
                invalid_name_message: "Imię może mieć najwyżej 100 znaków, bez linków i adresów. Możesz też zostawić to pole puste.",
                address_literal_message: "Przyjmujemy tylko adresy w domenie, nie pod adresem IP.",
                too_many_requests_message: "Zbyt wiele prób. Spróbuj ponownie później.",
                send_failed_message: "Nie udało się wysłać wiadomości. Spróbuj ponownie za chwilę.",
                error_title: "Błąd",
                not_found_message: "Nie ma takiej strony.",
                confirm_email_subject: "Potwierdź zapis na newsletter",
                confirm_email_intro: "Aby zacząć otrzymywać newsletter, potwierdź zapis, otwierając ten link:",
                confirm_email_ignore: "Jeśli ten adres zapisał ktoś inny, zignoruj tę wiadomość.",
            },
            Locale::English => Strings {
                greeting: "Hello",
                greet_by_name: true,
                intro: "Here are the latest posts:",
                related: "Related posts",
                also_like: "You may also like",
                read_more: "Read more",
                view_in_browser: "View in browser",
                unsubscribe: "Unsubscribe",
                unsubscribe_note: "You receive this e-mail because you subscribed to the newsletter.",
                new_posts_one: "new post",
                new_posts_few: "new posts",
                new_posts_many: "new posts",
                subscribe_title: "Subscribe to the newsletter",
                subscribe_message: "Now and then we will e-mail you the new posts.",
                subscribe_button: "Subscribe",
                email_label: "E-mail address",
                name_label: "Name (optional)",
                check_inbox_title: "Check your inbox",
                check_inbox_message: "We sent you a message with a confirmation link. Open it to finish subscribing.",
                confirm_title: "Confirm your subscription",
                confirm_message: "Press the button to confirm your subscription.",
                confirm_button: "Confirm",
                confirmed_title: "Subscription confirmed",
                confirmed_message: "Thank you! The next issue will reach your inbox.",
                unsubscribe_title: "Unsubscribe",
                unsubscribe_message: "Press the button to stop receiving the newsletter.",
                unsubscribe_button: "Unsubscribe me",
                unsubscribed_title: "Unsubscribed",
                unsubscribed_message: "You will not receive the newsletter any more.",
                invalid_link_title: "Invalid link",
                invalid_link_message: "This link is not valid. Check that you copied all of it.",
                expired_link_message: "This link has expired. Subscribe again to get a new one.",
                used_link_message: "This link has been used already, or a newer one replaced it. If your subscription is not confirmed, subscribe again.",
                unavailable_message: "The service is temporarily unavailable. Please try again in a moment.",
                invalid_email_message: "That does not look like an e-mail address.",
                invalid_name_message: "A name may have at most 100 characters, without links or addresses. You may also leave it empty.",
                address_literal_message: "Only addresses at a domain name are accepted, not at an IP address.",
                too_many_requests_message: "Too many attempts. Please try again later.",
                send_failed_message: "We could not send the message. Please try again in a moment.",
                error_title: "Error",
                not_found_message: "There is no such page.",
                confirm_email_subject: "Confirm your subscription",
                confirm_email_intro: "To start receiving the newsletter, confirm your subscription by opening this link:",
                confirm_email_ignore: "If you did not subscribe this address, ignore this message.",
            },
        }
    }

    /// "3 nowe wpisy" / "1 new post".
    pub fn new_posts(self, n: u64) -> String {
        let strings = self.strings();
        let word = match self.plural(n) {
            Plural::One => strings.new_posts_one,
            Plural::Few => strings.new_posts_few,
            Plural::Many => strings.new_posts_many,
        };
        format!("{n} {word}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polish_dates_use_the_genitive_month() {
        let date = DateTime::parse_from_rfc3339("2026-11-26T08:00:00+01:00").unwrap();
        assert_eq!(Locale::of("pl").long_date(&date), "26 listopada 2026");
        assert_eq!(Locale::of("en-GB").long_date(&date), "26 November 2026");
        assert_eq!(Locale::of("pl").short_date(&date), "26.11.2026");
    }

    #[test]
    fn polish_counts_take_three_plural_forms() {
        let pl = Locale::Polish;
        let got: Vec<String> =
            [1, 2, 3, 4, 5, 11, 12, 14, 21, 22, 25, 101, 112, 122].iter().map(|&n| pl.new_posts(n)).collect();
        assert_eq!(
            got,
            [
                "1 nowy wpis",
                "2 nowe wpisy",
                "3 nowe wpisy",
                "4 nowe wpisy",
                "5 nowych wpisów",
                "11 nowych wpisów",
                "12 nowych wpisów",
                "14 nowych wpisów",
                "21 nowych wpisów",
                "22 nowe wpisy",
                "25 nowych wpisów",
                "101 nowych wpisów",
                "112 nowych wpisów",
                "122 nowe wpisy",
            ]
        );
        assert_eq!(Locale::English.new_posts(1), "1 new post");
        assert_eq!(Locale::English.new_posts(2), "2 new posts");
    }

    #[test]
    fn polish_copy_never_assumes_the_readers_gender() {
        // Second-person past forms are gendered in Polish ("zapisałeś"/"zapisałaś"); so is a
        // greeting with the name in the nominative. The copy uses impersonal forms instead.
        let strings = serde_json::to_value(Locale::Polish.strings()).unwrap();
        for (key, value) in strings.as_object().unwrap() {
            let text = value.as_str().unwrap_or_default();
            for word in text.split(|c: char| !c.is_alphabetic()) {
                let gendered =
                    ["łeś", "łaś", "łbyś", "łabyś", "eś sam", "aś sama"].iter().any(|end| word.ends_with(end));
                assert!(!gendered, "{key}: {text:?} assumes the reader's gender ({word})");
            }
        }
        assert!(!Locale::Polish.strings().greet_by_name, "a Polish greeting would need the vocative");
    }

    #[test]
    fn the_intro_fits_the_first_issue_too() {
        for locale in [Locale::Polish, Locale::English] {
            let intro = locale.strings().intro.to_lowercase();
            for since in ["ostatniego", "poprzedniego", "since", "last issue"] {
                assert!(!intro.contains(since), "{intro}");
            }
        }
    }
}
