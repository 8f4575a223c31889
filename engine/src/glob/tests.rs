use proptest::prelude::*;

use super::*;

fn glob(pattern: &str) -> Glob {
    Glob::new(pattern).unwrap_or_else(|err| panic!("{pattern:?}: {err}"))
}

#[test]
fn the_syntax_matches_as_documented() {
    let cases: &[(&str, &[&str], &[&str])] = &[
        ("a.md", &["a.md"], &["b.md", "a.mdx", "x/a.md"]),
        ("*.md", &["a.md", ".md"], &["x/a.md", "a.txt"]),
        ("notes/*.md", &["notes/a.md"], &["notes/x/a.md", "a.md"]),
        ("**/*.md", &["a.md", "x/a.md", "x/y/a.md"], &["a.txt"]),
        ("notes/**", &["notes/a", "notes/x/y"], &["other/a", "notes"]),
        ("a/**/b", &["a/b", "a/x/b", "a/x/y/b"], &["a/xb", "ab"]),
        ("**", &["a", "a/b/c"], &[]),
        ("a**b", &["ab", "a/x/b"], &["a/x/c"]),
        ("?.md", &["a.md"], &["ab.md", "/.md"]),
        ("[a-c]x", &["ax", "cx"], &["dx", "/x"]),
        ("[!a-c]x", &["dx"], &["ax", "/x"]),
        ("[^a]x", &["bx"], &["ax"]),
        ("[-a]", &["-", "a"], &["b"]),
        ("[a-]", &["-", "a"], &["b"]),
        ("[\\]]", &["]"], &["a"]),
        ("{a,b}.md", &["a.md", "b.md"], &["c.md", "ab.md"]),
        ("{a,}x", &["ax", "x"], &["bx"]),
        ("x/{a,{b,c}*}", &["x/a", "x/b", "x/cde"], &["x/ad", "x/d"]),
        ("{**/,}a", &["a", "x/y/a"], &["b"]),
        ("a\\*", &["a*"], &["ab"]),
        ("a,b", &["a,b"], &["a"]),
        ("émoji 🌱/*", &["émoji 🌱/x"], &["émoji/x"]),
    ];
    for (pattern, yes, no) in cases {
        let g = glob(pattern);
        for path in *yes {
            assert!(g.is_match(path), "{pattern:?} should match {path:?}");
        }
        for path in *no {
            assert!(!g.is_match(path), "{pattern:?} should not match {path:?}");
        }
    }
}

#[test]
fn literal_prefixes_bound_the_scan() {
    for (pattern, prefix) in [
        ("notes/*.md", "notes/"),
        ("notes/a*", "notes/"),
        ("notes/a.md", "notes/a.md"),
        ("a*", ""),
        ("**/x", ""),
        ("x/y/{a,b}", "x/y/"),
        ("x\\*y/*", "x*y/"),
    ] {
        assert_eq!(glob(pattern).literal_prefix(), prefix, "{pattern:?}");
    }
}

#[test]
fn faults_and_caps_are_named() {
    let groups = "{a,b}".repeat(MAX_BRACE_GROUPS + 1);
    let alternatives = format!("{{{}}}", ",".repeat(MAX_BRACE_ALTERNATIVES));
    let deep = format!(
        "{}x{}",
        "{a,".repeat(MAX_BRACE_DEPTH + 1),
        "}".repeat(MAX_BRACE_DEPTH + 1)
    );
    let long = "a".repeat(MAX_GLOB_BYTES + 1);
    let cases = [
        (
            long.as_str(),
            GlobError::TooLong {
                len: MAX_GLOB_BYTES + 1,
            },
        ),
        (groups.as_str(), GlobError::TooManyBraceGroups),
        (alternatives.as_str(), GlobError::TooManyBraceAlternatives),
        (deep.as_str(), GlobError::BracesTooDeep),
        ("notes/{a,b", GlobError::UnclosedBrace { at: 6 }),
        ("a}b", GlobError::UnopenedBrace { at: 1 }),
        ("{a}}", GlobError::UnopenedBrace { at: 3 }),
        ("x[ab", GlobError::UnclosedClass { at: 1 }),
        ("x[]", GlobError::UnclosedClass { at: 1 }),
        ("x[a-", GlobError::UnclosedClass { at: 1 }),
        ("a\\", GlobError::TrailingEscape),
        ("!x", GlobError::Negated),
    ];
    for (pattern, want) in cases {
        assert_eq!(Glob::new(pattern), Err(want), "{pattern:?}");
    }
    let message = Glob::new(&long).unwrap_err().to_string();
    assert!(message.contains("1024"), "{message}");
    let message = Glob::new(&groups).unwrap_err().to_string();
    assert!(
        message.contains("brace groups") && message.contains("16"),
        "{message}"
    );
    // At the caps exactly, patterns are accepted.
    assert!(Glob::new(&"{a,b}".repeat(MAX_BRACE_GROUPS)).is_ok());
    assert!(Glob::new(&format!("{{{}}}", ",".repeat(MAX_BRACE_ALTERNATIVES - 1))).is_ok());
    assert!(Glob::new(&"a".repeat(MAX_GLOB_BYTES)).is_ok());
}

#[test]
fn hostile_patterns_cost_at_most_program_times_path() {
    let paths = [
        "a".repeat(1024),
        format!("{}/x", "a/".repeat(500)),
        "notes/garden.md".to_owned(),
    ];
    for (name, pattern) in crate::hostile::globs() {
        let g = Glob::new(&pattern).unwrap_or_else(|err| panic!("{name}: {err}"));
        for path in &paths {
            let mut budget = WorkBudget::new(u64::MAX);
            g.matches(path, &mut budget);
            let spent = u64::MAX - budget.left();
            let bound = g.step_bound(path.chars().count());
            assert!(spent <= bound, "{name}: {spent} steps, bound {bound}");
            // The caps keep one path's worst case (a call's overshoot) within two budgets.
            assert!(bound <= 2 * WORK_PER_CALL, "{name}: bound {bound}");
        }
    }
    for (name, pattern) in crate::hostile::refused_globs() {
        assert!(Glob::new(&pattern).is_err(), "{name}");
    }
}

#[test]
fn budgets_run_down_and_stop_at_zero() {
    let g = glob("**/*.md");
    let mut budget = WorkBudget::new(10);
    assert!(g.matches("a/b/c/d/e/f.md", &mut budget));
    assert!(budget.is_spent());
    let mut budget = WorkBudget::per_call();
    g.matches("a.md", &mut budget);
    assert!(budget.left() < WORK_PER_CALL && !budget.is_spent());
}

/// The reference: braces expanded into separate patterns, each matched by backtracking.
/// Exponential, so only for small patterns.
fn reference(pieces: &[Piece], path: &[char]) -> bool {
    expand(pieces).iter().any(|flat| backtrack(flat, path))
}

fn expand(pieces: &[Piece]) -> Vec<Vec<Piece>> {
    let mut out = vec![Vec::new()];
    for piece in pieces {
        match piece {
            Piece::Braces(alternatives) => {
                let tails: Vec<Vec<Piece>> = alternatives.iter().flat_map(|a| expand(a)).collect();
                out = out
                    .iter()
                    .flat_map(|head| {
                        tails.iter().map(move |tail| {
                            let mut joined = head.clone();
                            joined.extend(tail.iter().cloned());
                            joined
                        })
                    })
                    .collect();
            }
            other => out.iter_mut().for_each(|flat| flat.push(other.clone())),
        }
    }
    out
}

fn backtrack(pieces: &[Piece], path: &[char]) -> bool {
    let Some((first, rest)) = pieces.split_first() else {
        return path.is_empty();
    };
    let one = |c: char| match first {
        Piece::Literal(want) => c == *want,
        Piece::One => c != '/',
        Piece::Class { negated, ranges } => {
            c != '/' && ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
        }
        _ => unreachable!(),
    };
    match first {
        Piece::Star => (0..=path.len())
            .take_while(|&k| k == 0 || path[k - 1] != '/')
            .any(|k| backtrack(rest, &path[k..])),
        Piece::GlobStar => (0..=path.len()).any(|k| backtrack(rest, &path[k..])),
        Piece::GlobStarSlash => {
            backtrack(rest, path)
                || (1..=path.len()).any(|k| path[k - 1] == '/' && backtrack(rest, &path[k..]))
        }
        Piece::Braces(_) => unreachable!("expanded"),
        _ => path.first().is_some_and(|&c| one(c)) && backtrack(rest, &path[1..]),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn the_matcher_agrees_with_the_reference(
        pattern in "[ab/*?,{}\\[\\]!^-]{0,10}",
        path in "[ab/-]{0,8}",
    ) {
        let Ok(pieces) = parse(&pattern) else {
            return Ok(());
        };
        let g = Glob::new(&pattern).unwrap();
        let chars: Vec<char> = path.chars().collect();
        prop_assert_eq!(g.is_match(&path), reference(&pieces, &chars), "{:?} on {:?}", pattern, path);
    }
}
