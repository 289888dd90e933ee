//! Java regular expressions (`java.util.regex.Pattern`, what Flume's interceptors compile) run on
//! Rust's `regex` crate.
//!
//! The two syntaxes agree on what Flume users write (`"type":"(\w+)"`, `^\d{4}-`, `(?i)error`),
//! but not on every meaning, so a Java pattern is translated before it is compiled:
//! * `\d \D \w \W \s \S` are ASCII in Java and Unicode in Rust: translated to ASCII classes;
//!   `\h \H \v \R \e \cX`, octal `\0nn`, `\Q…\E` quoting and the ASCII POSIX classes
//!   (`\p{Alpha}`, `\p{Punct}`, …) are translated to what Java means by them;
//! * constructs Rust's engine does not have — look-ahead and look-behind, back-references,
//!   atomic groups, possessive quantifiers, `\G`, `\Z`, the `(?U)` and `(?d)` flags — are refused
//!   as [`JavaRegexError::Unsupported`] (Flume would run them; rflume says it cannot), never
//!   silently compiled into something else;
//! * a pattern Java itself rejects is [`JavaRegexError::Invalid`].
//!
//! Left as they are, with a small difference: Java's `.` does not match `\r`, `\u0085`,
//! `\u2028`, `\u2029` either (Rust's stops only at `\n`), and Java's `$` also matches before a
//! final line terminator. Event bodies of line-based sources contain no line terminators.

use regex::Regex;
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum JavaRegexError {
    /// Java accepts the pattern; Rust's regex engine has no equivalent of `construct`.
    #[error("{construct} is not supported by rflume's regex engine (Java accepts it)")]
    Unsupported { construct: String },
    /// Java's `Pattern.compile` would throw a `PatternSyntaxException` too.
    #[error("invalid regular expression: {message}")]
    Invalid { message: String },
}

/// A compiled Java pattern; equal when the Java source text is.
#[derive(Clone, Debug)]
pub struct JavaRegex {
    source: String,
    regex: Regex,
}

impl PartialEq for JavaRegex {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for JavaRegex {}

impl JavaRegex {
    /// Compiles `pattern` for `Matcher.find()` / `replaceAll()` semantics.
    pub fn new(pattern: &str) -> Result<Self, JavaRegexError> {
        let translated = translate(pattern)?;
        Self::compile(pattern, &translated)
    }

    /// Compiles `pattern` for `Matcher.matches()`: the whole input must match.
    pub fn whole(pattern: &str) -> Result<Self, JavaRegexError> {
        let translated = translate(pattern)?;
        Self::compile(pattern, &format!(r"\A(?:{translated})\z"))
    }

    fn compile(source: &str, translated: &str) -> Result<Self, JavaRegexError> {
        match Regex::new(translated) {
            Ok(regex) => Ok(JavaRegex {
                source: source.to_string(),
                regex,
            }),
            Err(regex::Error::CompiledTooBig(limit)) => Err(JavaRegexError::Unsupported {
                construct: format!("a pattern this large (over {limit} bytes compiled)"),
            }),
            Err(e) => Err(JavaRegexError::Invalid {
                message: e
                    .to_string()
                    .lines()
                    .last()
                    .unwrap_or("")
                    .trim()
                    .to_string(),
            }),
        }
    }

    /// The pattern as written in the configuration (Java syntax).
    pub fn as_str(&self) -> &str {
        &self.source
    }

    pub fn regex(&self) -> &Regex {
        &self.regex
    }
}

const DIGIT: &str = "0-9";
const WORD: &str = "0-9A-Za-z_";
const SPACE: &str = r"\t\n\x0B\x0C\r ";
const HSPACE: &str = r" \t\xA0\x{1680}\x{180E}\x{2000}-\x{200A}\x{202F}\x{205F}\x{3000}";
const VSPACE: &str = r"\n\x0B\x0C\r\x{85}\x{2028}\x{2029}";

/// Java's ASCII-only POSIX classes (`\p{Lower}` …), as Rust class contents.
fn posix_class(name: &str) -> Option<&'static str> {
    Some(match name {
        "Lower" => "a-z",
        "Upper" => "A-Z",
        "ASCII" => r"\x00-\x7F",
        "Alpha" => "a-zA-Z",
        "Digit" => "0-9",
        "Alnum" => "a-zA-Z0-9",
        "Punct" => r"!-/:-@\[-`{-~",
        "Graph" => r"!-~",
        "Print" => r" -~",
        "Blank" => r" \t",
        "Cntrl" => r"\x00-\x1F\x7F",
        "XDigit" => "0-9a-fA-F",
        "Space" => SPACE,
        _ => return None,
    })
}

fn unsupported(construct: &str) -> JavaRegexError {
    JavaRegexError::Unsupported {
        construct: construct.to_string(),
    }
}

fn invalid(message: &str) -> JavaRegexError {
    JavaRegexError::Invalid {
        message: message.to_string(),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Quantified {
    No,
    Greedy,
    Lazy,
}

/// A class written as a nested class, valid inside and outside brackets in Rust's syntax.
fn class(negated: bool, contents: &str) -> String {
    format!("[{}{contents}]", if negated { "^" } else { "" })
}

/// Java pattern → Rust pattern with Java's meaning.
fn translate(pattern: &str) -> Result<String, JavaRegexError> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut i = 0;
    // Depth of character classes (Java nests them: `[a-z&&[^q]]`).
    let mut class_depth = 0usize;
    // What the previous token was: a quantifier (which `?` makes lazy and `+` possessive), a
    // lazy quantifier, or anything else. Java rejects a quantifier after a complete one.
    let mut after_quantifier = Quantified::No;
    while i < chars.len() {
        let c = chars[i];
        let was = after_quantifier;
        after_quantifier = Quantified::No;
        match c {
            '\\' => {
                let Some(&next) = chars.get(i + 1) else {
                    return Err(invalid("trailing backslash"));
                };
                i += 2;
                match next {
                    'd' | 'D' => out.push_str(&class(next == 'D', DIGIT)),
                    'w' | 'W' => out.push_str(&class(next == 'W', WORD)),
                    's' | 'S' => out.push_str(&class(next == 'S', SPACE)),
                    'h' | 'H' => out.push_str(&class(next == 'H', HSPACE)),
                    'v' | 'V' => out.push_str(&class(next == 'V', VSPACE)),
                    'R' if class_depth == 0 => {
                        out.push_str(&format!(r"(?:\r\n|[{VSPACE}])"));
                    }
                    'e' => out.push_str(r"\x1B"),
                    'c' => {
                        let Some(&x) = chars.get(i) else {
                            return Err(invalid("\\c without a control character"));
                        };
                        i += 1;
                        out.push_str(&format!(r"\x{{{:X}}}", (x as u32) ^ 64));
                    }
                    '0' => {
                        // Java octal: \0n, \0nn, \0mnn (m ≤ 3).
                        let mut value = 0u32;
                        let mut digits = 0;
                        while digits < 3 {
                            let Some(d) = chars.get(i).and_then(|c| c.to_digit(8)) else {
                                break;
                            };
                            if digits == 2 && value > 0o37 {
                                break;
                            }
                            value = value * 8 + d;
                            digits += 1;
                            i += 1;
                        }
                        if digits == 0 {
                            return Err(invalid("\\0 without octal digits"));
                        }
                        out.push_str(&format!(r"\x{{{value:X}}}"));
                    }
                    '1'..='9' => return Err(unsupported("a back-reference (\\1 …)")),
                    'k' => return Err(unsupported("a named back-reference (\\k<name>)")),
                    'G' => return Err(unsupported("\\G (end of the previous match)")),
                    'Z' => {
                        return Err(unsupported(
                            "\\Z (end of input before a final line terminator)",
                        ))
                    }
                    'X' => return Err(unsupported("\\X (a grapheme cluster)")),
                    'Q' => {
                        let mut literal = String::new();
                        while i < chars.len() {
                            if chars[i] == '\\' && chars.get(i + 1) == Some(&'E') {
                                i += 2;
                                break;
                            }
                            literal.push(chars[i]);
                            i += 1;
                        }
                        if class_depth == 0 {
                            out.push_str(&format!("(?:{})", regex::escape(&literal)));
                        } else {
                            for ch in literal.chars() {
                                out.push_str(&regex::escape(&ch.to_string()));
                            }
                        }
                    }
                    'p' | 'P' if chars.get(i) == Some(&'{') => {
                        let close = chars[i..]
                            .iter()
                            .position(|&c| c == '}')
                            .ok_or_else(|| invalid("unclosed \\p{"))?;
                        let name: String = chars[i + 1..i + close].iter().collect();
                        i += close + 1;
                        let bare = name.strip_prefix("Is").unwrap_or(&name);
                        match posix_class(bare) {
                            Some(contents) => out.push_str(&class(next == 'P', contents)),
                            None if name.starts_with("In") => {
                                return Err(unsupported("a Unicode block class (\\p{InX})"))
                            }
                            None if name.starts_with("java") => {
                                return Err(unsupported("a java.lang.Character class (\\p{javaX})"))
                            }
                            None => out.push_str(&format!("\\{next}{{{name}}}")),
                        }
                    }
                    // Escapes both syntaxes read alike: \t \n \r \f \a \x.. \u.... \b \B \A \z,
                    // escaped metacharacters.
                    _ => {
                        out.push('\\');
                        out.push(next);
                    }
                }
                continue;
            }
            '[' => {
                class_depth += 1;
                out.push('[');
                i += 1;
                // A `]` right after `[` or `[^` is a literal in Java (and in Rust).
                if chars.get(i) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                if chars.get(i) == Some(&']') {
                    out.push_str(r"\]");
                    i += 1;
                }
                continue;
            }
            ']' if class_depth > 0 => {
                class_depth -= 1;
                out.push(']');
                i += 1;
                continue;
            }
            _ if class_depth > 0 => {
                // Inside a class Rust gives meaning to `-` ranges and `&&` as Java does; a `[`
                // that Java would read literally is escaped elsewhere by the user.
                out.push(c);
                i += 1;
                continue;
            }
            '(' if chars.get(i + 1) == Some(&'?') => {
                let rest: String = chars[i + 2..].iter().take(2).collect();
                if rest.starts_with('=') || rest.starts_with('!') {
                    return Err(unsupported("look-ahead ((?=…), (?!…))"));
                }
                if rest.starts_with("<=") || rest.starts_with("<!") {
                    return Err(unsupported("look-behind ((?<=…), (?<!…))"));
                }
                if rest.starts_with('>') {
                    return Err(unsupported("an atomic group ((?>…))"));
                }
                if !rest.starts_with('<') && !rest.starts_with(':') {
                    // Inline flags: (?idmsuxU-idmsuxU) or (?flags:…).
                    let flags: String = chars[i + 2..]
                        .iter()
                        .take_while(|c| **c != ')' && **c != ':')
                        .collect();
                    if flags.contains('U') {
                        return Err(unsupported(
                            "the (?U) flag (Java: Unicode character classes; Rust would read it as lazy quantifiers)",
                        ));
                    }
                    if flags.contains('d') {
                        return Err(unsupported("the (?d) flag (UNIX_LINES)"));
                    }
                }
                out.push('(');
                i += 1;
                continue;
            }
            '*' | '+' | '?' | '{' | '}' => {
                after_quantifier = match (was, c) {
                    (Quantified::Greedy, '+') => {
                        return Err(unsupported("a possessive quantifier (*+, ++, ?+, {n}+)"))
                    }
                    (Quantified::Greedy, '?') => Quantified::Lazy,
                    (Quantified::Greedy | Quantified::Lazy, _) => {
                        return Err(invalid(&format!("Dangling meta character '{c}'")))
                    }
                    (Quantified::No, '{') => Quantified::No,
                    (Quantified::No, _) => Quantified::Greedy,
                };
                out.push(c);
                i += 1;
                continue;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    if class_depth > 0 {
        return Err(invalid("unclosed character class"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finds(pattern: &str, text: &str) -> bool {
        JavaRegex::new(pattern)
            .unwrap_or_else(|e| panic!("{pattern}: {e}"))
            .regex()
            .is_match(text)
    }

    #[test]
    fn the_corpus_patterns_match_as_in_java() {
        let p = r#""biType":"(\w+)""#;
        let r = JavaRegex::new(p).expect("compiles");
        let caps = r
            .regex()
            .captures(r#"{"biType":"order_v2","x":1}"#)
            .expect("finds");
        assert_eq!(&caps[1], "order_v2");
    }

    #[test]
    fn shorthand_classes_are_ascii_as_in_java() {
        assert!(
            !finds(r"^\d+$", "١٢٣"),
            "Arabic-Indic digits are not \\d in Java"
        );
        assert!(finds(r"^\d+$", "123"));
        assert!(!finds(r"^\w+$", "héllo"), "é is not \\w in Java");
        assert!(finds(r"^\W$", "é"));
        assert!(finds(r"^[\w-]+$", "a-b_c"), "inside a class too");
        assert!(!finds(r"^[^\d]$", "7"));
        assert!(
            !finds(r"\s", "\u{3000}"),
            "ideographic space is not \\s in Java"
        );
        assert!(finds(r"\h", "\u{3000}"), "but it is \\h");
    }

    #[test]
    fn java_only_escapes_are_translated() {
        assert!(finds(r"\Qa.b*c\E$", "xa.b*c"));
        assert!(!finds(r"^\Qa.b\E$", "axb"));
        assert!(finds(r"^\p{Alpha}+$", "abcXYZ"));
        assert!(
            !finds(r"^\p{Alpha}+$", "é"),
            "POSIX classes are ASCII in Java"
        );
        assert!(finds(r"^\p{Punct}$", "!"));
        assert!(finds(r"\e", "\u{1b}"));
        assert!(finds(r"^\cA$", "\u{1}"));
        assert!(finds(r"^\0101$", "A"), "octal");
        assert!(finds(r"^a\Rb$", "a\r\nb"));
        assert!(finds(r"(?i)error", "ERROR"));
        assert!(finds(r"^(?<year>\d{4})-", "2024-"));
        assert!(finds(r"^[]a]+$", "]a"));
    }

    #[test]
    fn what_rust_cannot_do_is_refused_not_approximated() {
        for p in [
            r"foo(?=bar)",
            r"(?<!x)y",
            r"(a)\1",
            r"(?>a+)",
            r"a++",
            r"a{2}+",
            r"(?U)\w",
            r"\Gx",
            r"x\Z",
            r"\p{InGreek}",
        ] {
            assert!(
                matches!(JavaRegex::new(p), Err(JavaRegexError::Unsupported { .. })),
                "{p}: {:?}",
                JavaRegex::new(p)
            );
        }
        assert!(JavaRegex::new(r"a+?").is_ok(), "lazy is fine");
        assert!(JavaRegex::new(r"a??+").is_err());
    }

    #[test]
    fn what_java_rejects_is_invalid() {
        for p in [r"(", r"[a-", r"x\", r"*a"] {
            assert!(
                matches!(JavaRegex::new(p), Err(JavaRegexError::Invalid { .. })),
                "{p}: {:?}",
                JavaRegex::new(p)
            );
        }
    }

    #[test]
    fn whole_means_matches_not_find() {
        let r = JavaRegex::whole("ab|cd").expect("compiles");
        assert!(r.regex().is_match("cd"));
        assert!(!r.regex().is_match("abcd"));
        assert!(!r.regex().is_match("xab"));
    }
}
