//! URLs as they may be shown or saved: without the password.

/// The URL's text with its password, if any, replaced by `****` (`user:****@host`), for
/// everything that shows or saves a URL (reports, result files, progress lines).
pub fn redact_url(url: &url::Url) -> String {
    if url.password().is_none_or(str::is_empty) {
        return url.to_string();
    }
    let mut shown = url.clone();
    // Only URLs that cannot have a password (no host) refuse one; this one has one.
    let _ = shown.set_password(Some("****"));
    shown.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_the_password_and_keeps_the_rest() {
        let url = url::Url::parse("http://user:s3cr%40t@127.0.0.1:8080/a?b=1").unwrap();
        assert_eq!(redact_url(&url), "http://user:****@127.0.0.1:8080/a?b=1");
        let plain = url::Url::parse("https://user@example.com/").unwrap();
        assert_eq!(redact_url(&plain), "https://user@example.com/");
        let none = url::Url::parse("http://127.0.0.1/").unwrap();
        assert_eq!(redact_url(&none), "http://127.0.0.1/");
    }
}
