//! "Did you mean …?" by edit distance.

/// Candidates considered at most; keeps a hostile file with thousands of names
/// from making every suggestion quadratic.
const MAX_CANDIDATES: usize = 2000;

/// The closest candidate to `word`, if it is close enough to be a likely typo:
/// at most a third of the word's length in edits, rounded up (1 to 3).
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = word.chars().count().div_ceil(3).clamp(1, 3);
    let mut best: Option<(usize, &str)> = None;
    for c in candidates.into_iter().take(MAX_CANDIDATES) {
        if c == word || c.len().abs_diff(word.len()) > limit {
            continue;
        }
        let d = levenshtein(word, c);
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// Edit distance (insert, delete, substitute; case differences cost 1).
fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().take(256).collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().take(256).enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(
            did_you_mean("ipv4.scr", ["ipv4.src", "ipv4.dst"]),
            Some("ipv4.src")
        );
        assert_eq!(
            did_you_mean("terniary", ["exact", "lpm", "ternary", "range"]),
            Some("ternary")
        );
        assert_eq!(did_you_mean("xyz", ["exact", "lpm"]), None);
        assert_eq!(did_you_mean("tabel", ["table", "module"]), Some("table"));
    }
}
