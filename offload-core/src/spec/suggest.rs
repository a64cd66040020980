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

/// Edit distance with adjacent transpositions (optimal string alignment):
/// insert, delete, substitute or swap two neighbours each cost 1.
fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().take(256).collect();
    let b: Vec<char> = b.chars().take(256).collect();
    // d[i][j] = distance between a[..i] and b[..j], three rows kept.
    let mut prev2: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j - 1] + cost).min(prev[j] + 1).min(cur[j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(prev2[j - 2] + 1);
            }
            cur[j] = d;
        }
        std::mem::swap(&mut prev2, &mut prev);
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
        assert_eq!(levenshtein("scr", "src"), 1);
        assert_eq!(levenshtein("", "abc"), 3);
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
