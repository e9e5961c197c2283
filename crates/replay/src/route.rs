//! Route folding: `/users/123/orders/9f86d081884c7d65` → `/users/:id/orders/:id`, so a
//! table reads as endpoints, not thousands of URLs.

/// The route of `method` and `path` (its query dropped): numeric segments, UUIDs and
/// hex ids (8 or more hex digits with at least one digit) become `:id`.
pub fn route_of(method: &str, path: &str) -> String {
    let path = path.split(['?', '#']).next().unwrap_or("");
    let mut out = String::with_capacity(method.len() + 1 + path.len());
    out.push_str(method);
    out.push(' ');
    if path.is_empty() {
        out.push('/');
        return out;
    }
    for (i, seg) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        if is_id(seg) {
            out.push_str(":id");
        } else {
            out.push_str(seg);
        }
    }
    out
}

fn is_id(seg: &str) -> bool {
    if seg.is_empty() {
        return false;
    }
    if seg.bytes().all(|b| b.is_ascii_digit()) {
        return true;
    }
    is_uuid(seg)
        || (seg.len() >= 8
            && seg.bytes().all(|b| b.is_ascii_hexdigit())
            && seg.bytes().any(|b| b.is_ascii_digit()))
}

fn is_uuid(seg: &str) -> bool {
    let groups: Vec<&str> = seg.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::route_of;

    #[test]
    fn ids_fold_and_words_stay() {
        let cases = [
            ("/users/123", "GET /users/:id"),
            ("/users/123/orders/7?x=1", "GET /users/:id/orders/:id"),
            (
                "/items/550e8400-e29b-41d4-a716-446655440000",
                "GET /items/:id",
            ),
            ("/blobs/9f86d081884c7d65", "GET /blobs/:id"),
            ("/api/v2/feed", "GET /api/v2/feed"),
            ("/deadbeef", "GET /deadbeef"), // hex letters only: a word
            ("/", "GET /"),
            ("", "GET /"),
        ];
        for (path, want) in cases {
            assert_eq!(route_of("GET", path), want, "{path}");
        }
    }
}
