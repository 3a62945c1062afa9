//! Case-insensitive globs over tool names: `*` matches any run, `?` one character.
//!
//! Tool names have no path separators, so a twenty-line matcher does what
//! `globset` would, without a regex engine in the binary.

/// A compiled glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    pattern: Vec<char>,
}

impl Glob {
    /// Compiles `pattern`; every string is a valid glob.
    pub fn new(pattern: &str) -> Self {
        Glob {
            pattern: pattern.to_lowercase().chars().collect(),
        }
    }

    /// Whether `text` matches the whole pattern, ignoring case.
    pub fn is_match(&self, text: &str) -> bool {
        let text: Vec<char> = text.to_lowercase().chars().collect();
        let pattern = &self.pattern;
        // Iterative matcher with single-star backtracking: linear in practice,
        // O(n*m) at worst, never exponential.
        let (mut p, mut t) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while t < text.len() {
            match pattern.get(p) {
                Some('*') => {
                    star = Some((p, t));
                    p += 1;
                }
                Some(&c) if c == '?' || c == text[t] => {
                    p += 1;
                    t += 1;
                }
                _ => match star {
                    Some((star_p, star_t)) => {
                        p = star_p + 1;
                        t = star_t + 1;
                        star = Some((star_p, star_t + 1));
                    }
                    None => return false,
                },
            }
        }
        pattern[p..].iter().all(|&c| c == '*')
    }
}

#[cfg(test)]
mod tests {
    use super::Glob;

    #[test]
    fn matches_like_a_shell_glob_ignoring_case() {
        let cases = [
            ("*", "anything", true),
            ("*", "", true),
            ("read_*", "read_file", true),
            ("read_*", "write_file", false),
            ("*time*", "get_current_time", true),
            ("*TIME*", "get_current_time", true),
            ("get_?urrent_time", "get_current_time", true),
            ("get_?urrent_time", "get_urrent_time", false),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("echo", "ECHO", true),
            ("echo", "echo2", false),
            ("*a", "banana", true),
            ("", "", true),
            ("", "x", false),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(
                Glob::new(pattern).is_match(text),
                expected,
                "{pattern} vs {text}"
            );
        }
    }

    #[test]
    fn many_stars_stay_fast() {
        let glob = Glob::new(&"*a".repeat(30));
        assert!(!glob.is_match(&"a".repeat(29)));
    }
}
