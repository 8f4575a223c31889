use std::cell::Cell;
use std::convert::Infallible;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRng, TestRunner};

use super::*;
use crate::grep::GrepPattern;

fn f(text: &str) -> Narrowing {
    Narrowing::Fragment(Fragment::anywhere(text))
}

/// A fragment pinned to a word boundary before it (`start`) and after it (`end`).
fn pinned(text: &str, start: bool, end: bool) -> Narrowing {
    Narrowing::Fragment(Fragment {
        text: text.to_owned(),
        start,
        end,
    })
}

fn and<const N: usize>(parts: [Narrowing; N]) -> Narrowing {
    Narrowing::And(parts.into())
}

fn or<const N: usize>(parts: [Narrowing; N]) -> Narrowing {
    Narrowing::Or(parts.into())
}

/// Named cases: (name, pattern, narrowing).
fn cases() -> Vec<(&'static str, String, Narrowing)> {
    let long = "x".repeat(MAX_TERM_BYTES + 6);
    [
        ("plain word", "tomato", f("tomato")),
        ("capitals lowercased", "Tomato", f("tomato")),
        ("punctuation splits", "foo-bar", and([f("bar"), f("foo")])),
        ("escaped dot splits", r"foo\.bar", and([f("bar"), f("foo")])),
        ("dot splits", "foo.bar", and([f("bar"), f("foo")])),
        ("case-insensitive", "(?i)FooBar", f("foobar")),
        ("scoped flags", "(?i:Foo)Bar", f("foobar")),
        (
            "alternation",
            "deploy|release",
            or([f("deploy"), f("release")]),
        ),
        (
            "alternation in words",
            "(de|re)ploy",
            or([f("deploy"), f("reploy")]),
        ),
        ("optional letter", "colou?r", or([f("color"), f("colour")])),
        ("optional tail implied", "deploy(ed)?", f("deploy")),
        (
            "star needs nothing",
            "foo(bar)*baz",
            and([f("baz"), f("foo")]),
        ),
        ("star alone", "(foo)*", Narrowing::All),
        ("zero repetitions", "foo(bar){0}baz", f("foobaz")),
        ("plus keeps its ends", "ab+c", and([f("ab"), f("bc")])),
        (
            "counted keeps its ends",
            "x(ab){2,5}y",
            and([f("aby"), f("xab")]),
        ),
        ("one repetition", "x(ab){1}y", f("xaby")),
        ("unknown plus", r"\d+px", f("px")),
        ("small class", "gr[ae]y", or([f("gray"), f("grey")])),
        (
            "class with punctuation",
            "foo[-_]bar",
            and([f("bar"), f("foo")]),
        ),
        ("large class splits", "[a-z]+ing", f("ing")),
        (
            "negated class splits",
            "foo[^x]bar",
            and([f("bar"), f("foo")]),
        ),
        ("perl class", r"v\d\.\d", f("v")),
        ("anchors", "^todo:$", f("todo")),
        ("word boundary inside", r"foo\bbar", f("foobar")),
        ("only stopwords", r"\bthe\b", Narrowing::All),
        ("inside a stopword", "he", Narrowing::All),
        ("stopword neighbours", "the end", f("end")),
        ("contains a stopword", "other", f("other")),
        ("nothing literal", ".*", Narrowing::All),
        ("empty", "", Narrowing::All),
        ("over-long literal", &long, f(&long)),
        ("accent", "Café", f("café")),
        ("sharp s", "Straße", f("straße")),
        ("final sigma per char", "ΟΔΟΣ", f("οδοσ")),
        ("final sigma literal", "οδος", f("οδος")),
        ("cyrillic", "(?i)Привет", f("привет")),
        ("dotted capital i", "İstanbul", f("i\u{307}stanbul")),
        ("kelvin", "\u{212A}elvin", f("kelvin")),
        (
            "word boundaries pin",
            r"\bneedle7\b",
            pinned("needle7", true, true),
        ),
        (
            "one boundary",
            r"(?i)\bDeploy",
            pinned("deploy", true, false),
        ),
        (
            "boundary after a break",
            r" \bneedle",
            pinned("needle", true, false),
        ),
        (
            "boundary inside a run pins nothing",
            r"foo\bbar",
            f("foobar"),
        ),
        ("i and k edges are not pinned", r"\bkiwi\b", f("kiwi")),
        (
            "a non-ascii edge is not pinned",
            r"\bétude\b",
            pinned("étude", false, true),
        ),
        (
            "kelvin edge",
            r"\b\x{212A}elvin\b",
            pinned("kelvin", false, true),
        ),
        ("not a boundary pins nothing", r"\Bneedle\B", f("needle")),
        (
            "a pinned fragment implies its text",
            r"\bneedle7\b.*needle",
            pinned("needle7", true, true),
        ),
        ("either pinned or not", r"\bneedle\b|needle", f("needle")),
        ("escaped non-ascii", r"caf\x{e9}", f("café")),
        ("invalid", "(", Narrowing::All),
        ("invalid repetition", "a{2", Narrowing::All),
        ("unicode class", r"\pL+ing", f("ing")),
        ("verbose", "(?x) foo  bar # comment", f("foobar")),
    ]
    .into_iter()
    .map(|(name, pattern, narrowing)| (name, pattern.to_owned(), narrowing))
    .collect()
}

#[test]
fn named_cases_narrow_as_expected() {
    for (name, pattern, expected) in cases() {
        assert_eq!(Narrowing::of(&pattern), expected, "{name}: {pattern:?}");
    }
}

/// The texts of the evaluation tests, by note name.
fn notes() -> MemoryFragmentIndex<&'static str> {
    let mut index = MemoryFragmentIndex::new();
    let long = format!("blob {}", "Q".repeat(MAX_TERM_BYTES + 1));
    let long: &'static str = Box::leak(long.into_boxed_str());
    for (note, text) in [
        ("tomato", "Water the Tomatoes.\nfoo-bar"),
        ("grey", "a grey day, The END"),
        ("other", "the other one; fooXbar"),
        ("greek", "ΟΔΟΣ and οδος"),
        ("blob", long),
    ] {
        index.insert(note, text);
    }
    index
}

fn search(
    index: &mut MemoryFragmentIndex<&'static str>,
    pattern: &str,
) -> Candidates<&'static str> {
    let mut found = Narrowing::of(pattern).candidates(index).unwrap();
    found.extend(index.always_candidates().iter().copied());
    found
}

fn some<const N: usize>(notes: [&'static str; N]) -> Candidates<&'static str> {
    Candidates::Some(notes.into())
}

#[test]
fn candidates_are_the_notes_with_the_fragments() {
    let mut index = notes();
    assert_eq!(index.always_candidates(), &["blob"].into());
    assert_eq!(search(&mut index, "tomato"), some(["tomato", "blob"]));
    assert_eq!(search(&mut index, "(?i)TOMATO"), some(["tomato", "blob"]));
    assert_eq!(
        search(&mut index, "foo.bar"),
        some(["tomato", "other", "blob"])
    );
    assert_eq!(
        search(&mut index, r"foo\-bar"),
        some(["tomato", "other", "blob"])
    );
    assert_eq!(
        search(&mut index, "gr[ae]y|tomato"),
        some(["tomato", "grey", "blob"])
    );
    assert_eq!(search(&mut index, "the end"), some(["grey", "blob"]));
    assert_eq!(search(&mut index, "the"), Candidates::All);
    assert_eq!(search(&mut index, "ΟΔΟΣ"), some(["greek", "blob"]));
    assert_eq!(search(&mut index, "nowhere"), some(["blob"]));
    // Longer than any term: no lookup needed, only the note with an unindexed run.
    assert_eq!(search(&mut index, &"q".repeat(70)), some(["blob"]));
    assert!(search(&mut index, &"Q".repeat(70)).contains(&"blob"));
}

/// An index that counts its lookups, and cannot answer "cannot".
#[test]
fn only_i_and_k_come_from_lowercasing_non_ascii() {
    let mut found = BTreeSet::new();
    for c in (0..=char::MAX as u32).filter_map(char::from_u32) {
        if c.is_ascii() || !c.is_alphanumeric() {
            continue;
        }
        for lower in c.to_lowercase().filter(char::is_ascii) {
            assert!(
                ASCII_FROM_NON_ASCII.contains(&lower),
                "{c:?} lowercases to ASCII {lower:?}"
            );
            found.insert(lower);
        }
    }
    assert_eq!(found, ASCII_FROM_NON_ASCII.into_iter().collect());
}

#[test]
fn a_pinned_fragment_is_in_a_term_only_where_a_boundary_can_be() {
    let both = Fragment {
        text: "needle7".into(),
        start: true,
        end: true,
    };
    for (term, holds) in [
        ("needle7", true),
        ("needle70", false),
        ("xneedle7", false),
        ("éneedle7", true),
        ("needle7é", true),
        // After the Kelvin sign, lowercased to `k`.
        ("kneedle7", true),
        ("needle7needle7", false),
        ("needle70needle7", false),
        ("needle70éneedle7", true),
    ] {
        assert_eq!(both.in_term(term), holds, "{term}");
    }
    let start = Fragment {
        end: false,
        ..both.clone()
    };
    assert!(start.in_term("needle70"));
    assert!(!start.in_term("aneedle70"));
    assert!(both.implies(&start) && !start.implies(&both));
    assert!(both.implies(&Fragment::anywhere("needle")));
    assert!(!Fragment::anywhere("needle7").implies(&start));
    assert_eq!(both.to_string(), r"\bneedle7\b");
}

#[derive(Debug, Default)]
struct Counting {
    lookups: Vec<String>,
}

impl FragmentIndex for Counting {
    type Note = u32;
    type Error = Infallible;

    fn notes_with(&mut self, fragment: &Fragment) -> Result<Option<BTreeSet<u32>>, Infallible> {
        let fragment = fragment.text.as_str();
        self.lookups.push(fragment.to_owned());
        Ok(match fragment {
            "cannot" => None,
            "none" => Some(BTreeSet::new()),
            _ => Some([1, 2, fragment.len() as u32].into()),
        })
    }
}

#[test]
fn evaluation_looks_each_fragment_up_once_and_stops_early() {
    let mut index = Counting::default();
    let tree = Narrowing::and([
        Narrowing::or([f("abc"), f("cannot")]),
        f("abcd"),
        Narrowing::or([f("abcd"), f("xy")]),
    ]);
    assert_eq!(
        tree.candidates(&mut index).unwrap(),
        Candidates::Some([1, 2, 4].into())
    );
    // Sorted: the fragment first, then the Ors; `abcd` is looked up once.
    assert_eq!(index.lookups, ["abcd", "abc", "cannot", "xy"]);

    let mut index = Counting::default();
    let empty = Narrowing::and([f("none"), f("zzz")]);
    assert_eq!(
        empty.candidates(&mut index).unwrap(),
        Candidates::Some(BTreeSet::new())
    );
    assert_eq!(index.lookups, ["none"]);

    let mut index = Counting::default();
    let any = Narrowing::or([f("cannot"), f("zzz")]);
    assert_eq!(any.candidates(&mut index).unwrap(), Candidates::All);
    assert_eq!(index.lookups, ["cannot"]);
}

#[test]
fn evaluation_looks_up_at_most_max_lookups() {
    let mut index = Counting::default();
    let many = Narrowing::And((0..100).map(|i| f(&format!("w{i:03}"))).collect());
    assert_eq!(
        many.candidates(&mut index).unwrap(),
        Candidates::Some([1, 2, 4].into())
    );
    assert_eq!(index.lookups.len(), MAX_LOOKUPS);
    let many = Narrowing::Or((0..100).map(|i| f(&format!("w{i:03}"))).collect());
    assert_eq!(
        many.candidates(&mut Counting::default()).unwrap(),
        Candidates::All
    );
}

#[test]
fn simplification() {
    assert_eq!(Narrowing::and([]), Narrowing::All);
    assert_eq!(Narrowing::or([]), Narrowing::All);
    assert_eq!(Narrowing::and([Narrowing::All, f("a1")]), f("a1"));
    assert_eq!(Narrowing::or([Narrowing::All, f("a1")]), Narrowing::All);
    assert_eq!(
        Narrowing::and([f("b"), f("a"), f("b")]),
        and([f("a"), f("b")])
    );
    assert_eq!(
        Narrowing::and([f("x"), Narrowing::and([f("y"), f("z")])]),
        and([f("x"), f("y"), f("z")])
    );
    assert_eq!(
        Narrowing::or([f("x"), Narrowing::or([f("y"), f("z")])]),
        or([f("x"), f("y"), f("z")])
    );
    // Implied fragments go: `dep` is in every term holding `deploy`.
    assert_eq!(Narrowing::and([f("dep"), f("deploy")]), f("deploy"));
    assert_eq!(Narrowing::or([f("dep"), f("deploy")]), f("dep"));
}

#[test]
fn caps_degrade_soundly() {
    // 100 alternatives: more fragments than the cap, so every note.
    let words: Vec<String> = (0..100).map(|i| format!("word{i:03}")).collect();
    assert_eq!(Narrowing::of(&words.join("|")), Narrowing::All);
    // 100 required words: the first 64 (sorted) are kept.
    let narrowing = Narrowing::of(&words.join(".*"));
    assert_eq!(narrowing.fragments().len(), MAX_FRAGMENTS);
    assert_eq!(narrowing.fragments()[0].text, "word000");
    // Too many spelled-out strings: each part is reduced to its own needs.
    let product = "(ab|cd|ef|gh)(ij|kl|mn|op)(qr|st)";
    assert_eq!(
        Narrowing::of(product).fragments().len(),
        16 + 2,
        "{:?}",
        Narrowing::of(product)
    );
    // Nesting past the limit, and patterns grep refuses as too long.
    let deep = format!("{}x{}", "(".repeat(200), ")".repeat(200));
    assert_eq!(Narrowing::of(&deep), Narrowing::All);
    let shallow = format!("{}xyz{}", "(".repeat(50), ")".repeat(50));
    assert_eq!(Narrowing::of(&shallow), f("xyz"));
    let long = "y".repeat(MAX_PATTERN_BYTES + 1);
    assert_eq!(Narrowing::of(&long), Narrowing::All);
    // Big classes and repetitions of repetitions stay bounded.
    assert_eq!(Narrowing::of("[a-h]x"), Narrowing::of("(a|b|c|d|e|f|g|h)x"));
    assert_eq!(Narrowing::of("[a-i]x"), f("x"));
    let nested = format!("{}ab{}", "(".repeat(30), ")+".repeat(30));
    assert_eq!(Narrowing::of(&nested), f("ab"));
}

#[test]
fn unindexed_runs_are_the_ones_the_tokenizer_drops() {
    let fits = "é".repeat(MAX_TERM_BYTES / 2);
    for (text, expected) in [
        ("short words only", false),
        (&*"x".repeat(MAX_TERM_BYTES), false),
        (&*"x".repeat(MAX_TERM_BYTES + 1), true),
        (&*format!("{fits} {fits}"), false),
        (&*format!("{fits}e"), true),
        // Lowercasing grows `İ` from 2 bytes to 3: 22 of them are 66 bytes.
        (&*"İ".repeat(22), true),
        (&*"İ".repeat(21), false),
    ] {
        assert_eq!(has_unindexed_run(text), expected, "{text:?}");
        let runs = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|r| !r.is_empty());
        assert_eq!(
            crate::search::tokenize(text).len() < runs.count(),
            expected,
            "{text:?}"
        );
    }
}

/// The case rule rests on regex-lite folding ASCII letters only. If grep's engine ever folds
/// Unicode case, these fail: `(?i)σ` would match `ς` (indexed as `ς`), and the narrowing
/// would then have to end a run at such characters.
#[test]
fn grep_folds_ascii_case_only() {
    for (pattern, text) in [
        ("(?i)σ", "Σ"),
        ("(?i)σ", "ς"),
        ("(?i)k", "\u{212A}"),
        ("(?i)s", "ſ"),
        ("(?i)é", "É"),
        ("(?i)ß", "ẞ"),
        ("(?i)μ", "µ"),
        ("(?i)i", "İ"),
    ] {
        assert!(
            !GrepPattern::new(pattern).unwrap().is_match(text),
            "{pattern} {text}"
        );
    }
    assert!(GrepPattern::new("(?i)straSSE").unwrap().is_match("STRASSE"));
}

/// Pieces of generated texts and patterns: cases, digits, punctuation, line ends,
/// stopwords, runs too long to index, and characters whose case mappings are irregular.
const PIECES: &[&str] = &[
    "a", "b", "B", "z", "Z", "7", "0", " ", "-", ".", ",", "\n", "\r\n", "{", "}", "|", "*", "the",
    "he", "The", "THE", "in", "foo", "Foo", "FOO", "bar", "σ", "Σ", "ς", "\u{212A}", "k", "K", "İ",
    "i", "I", "ß", "ẞ", "é", "É", "ſ", "s", "S", "µ", "μ", "_", "foo_bar",
];

fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        10 => proptest::sample::select(PIECES).prop_map(str::to_owned),
        1 => Just("x".repeat(MAX_TERM_BYTES - 1)),
        1 => Just("É".repeat(MAX_TERM_BYTES / 2 + 1)),
    ]
}

pub(crate) fn texts() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(
        proptest::collection::vec(piece(), 0..12).prop_map(|p| p.concat()),
        1..6,
    )
}

pub(crate) fn pattern() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        12 => piece().prop_map(|p| regex_syntax::escape(&p)),
        1 => Just(".".to_owned()),
        1 => Just(r"\w".to_owned()),
        1 => Just(r"\d".to_owned()),
        1 => Just(r"\s".to_owned()),
        1 => Just("^".to_owned()),
        1 => Just("$".to_owned()),
        3 => Just(r"\b".to_owned()),
        1 => Just(r"\B".to_owned()),
        1 => Just("(?i)".to_owned()),
        1 => Just("(?x)".to_owned()),
        1 => Just(" ".to_owned()),
        1 => Just("[aB7]".to_owned()),
        1 => Just("[a-c]".to_owned()),
        1 => Just("[^a]".to_owned()),
        1 => Just("[σς]".to_owned()),
        1 => Just("[-.]".to_owned()),
        1 => Just("[ a]".to_owned()),
        1 => Just("[[:alpha:]]".to_owned()),
        1 => Just(r"\x{212A}".to_owned()),
    ];
    let quantifier = proptest::sample::select(
        &[
            "?", "*", "+", "{2}", "{1,3}", "{0,2}", "{2,}", "+?", "{0}", "{1}",
        ][..],
    );
    leaf.prop_recursive(3, 12, 3, move |inner| {
        prop_oneof![
            4 => proptest::collection::vec(inner.clone(), 1..4).prop_map(|v| v.concat()),
            1 => proptest::collection::vec(inner.clone(), 2..4)
                .prop_map(|v| format!("(?:{})", v.join("|"))),
            1 => proptest::collection::vec(inner.clone(), 2..4).prop_map(|v| v.join("|")),
            2 => (inner.clone(), quantifier.clone()).prop_map(|(x, q)| format!("({x}){q}")),
            1 => inner.prop_map(|x| format!("(?i:{x})")),
        ]
    })
}

pub(crate) fn runner(cases: u32) -> TestRunner {
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let rng = TestRng::deterministic_rng(config.rng_algorithm);
    TestRunner::new_with_rng(config, rng)
}

/// Checks that every note of `texts` in which `grep` matches a line is among the candidates
/// `narrowing` gives over an index of them; counts the matching notes and the notes left out.
fn check_sound(
    texts: &[String],
    pattern: &str,
    grep: &GrepPattern,
    narrowing: &Narrowing,
    matched: &Cell<u32>,
    excluded: &Cell<u32>,
) -> Result<(), TestCaseError> {
    let mut index = MemoryFragmentIndex::new();
    for (note, text) in texts.iter().enumerate() {
        index.insert(note, text);
    }
    let mut candidates = narrowing.candidates(&mut index).unwrap();
    candidates.extend(index.always_candidates().iter().copied());
    for (note, text) in texts.iter().enumerate() {
        if text.lines().any(|line| grep.is_match(line)) {
            matched.set(matched.get() + 1);
            prop_assert!(
                candidates.contains(&note),
                "{pattern:?} matches {text:?} but narrows to {narrowing:?}"
            );
        } else if !candidates.contains(&note) {
            excluded.set(excluded.get() + 1);
        }
    }
    Ok(())
}

/// Soundness: every note in which grep finds a match (line by line, as the worker does) is
/// a candidate. Counted, so the generator cannot drift into patterns that never narrow.
#[test]
fn candidates_include_every_note_grep_matches() {
    const CASES: u32 = 3_000;
    let (compiled, narrowed, matched, excluded) =
        (Cell::new(0), Cell::new(0), Cell::new(0), Cell::new(0));
    let pinned = Cell::new(0);
    runner(CASES)
        .run(&(texts(), pattern()), |(texts, pattern)| {
            let Ok(grep) = GrepPattern::new(&pattern) else {
                return Ok(());
            };
            compiled.set(compiled.get() + 1);
            let narrowing = Narrowing::of(&pattern);
            if narrowing != Narrowing::All {
                narrowed.set(narrowed.get() + 1);
            }
            if narrowing.fragments().iter().any(|f| f.start || f.end) {
                pinned.set(pinned.get() + 1);
            }
            check_sound(&texts, &pattern, &grep, &narrowing, &matched, &excluded)
        })
        .unwrap();
    let (compiled, narrowed, matched, excluded) = (
        compiled.get(),
        narrowed.get(),
        matched.get(),
        excluded.get(),
    );
    let pinned = pinned.get();
    println!(
        "{compiled} patterns compiled, {narrowed} narrowed ({pinned} pinned to a boundary), \
         {matched} matching notes, {excluded} notes left out"
    );
    assert!(pinned > 0, "no pattern pinned a fragment");
    assert!(compiled > CASES / 2, "{compiled} of {CASES} compiled");
    // With this seed about a third narrow (single letters are mostly inside stopwords),
    // and a quarter of the non-matching notes are left out.
    assert!(narrowed > compiled / 4, "{narrowed} of {compiled} narrowed");
    assert!(matched > compiled, "{matched} matching notes");
    assert!(excluded > compiled / 5, "{excluded} notes left out");
}

/// Soundness of words pinned to boundaries (`\bfoo\b`, `\bfoo`, `foo\b`), next to what makes
/// a boundary hard to read from a term: `_` (an ASCII word character the tokenizer splits on),
/// digits, letters lowercased from non-ASCII ones (`K` gives `k`, `İ` gives `i`), accents.
#[test]
fn words_pinned_to_boundaries_narrow_soundly() {
    const CASES: u32 = 3_000;
    let neighbour = proptest::sample::select(
        &[
            "", " ", "_", "7", "x", "é", "\u{212A}", "İ", "k", "i", "-", "\n", "foo", "Z",
        ][..],
    );
    let text = proptest::collection::vec(
        (
            neighbour.clone(),
            proptest::sample::select(&["foo", "Bar", "z7", "b", "\u{212A}z", "zİ"][..]),
            neighbour,
        ),
        0..6,
    )
    .prop_map(|parts| {
        parts
            .into_iter()
            .map(|(l, w, r)| format!("{l}{w}{r}"))
            .collect::<String>()
    });
    let texts = proptest::collection::vec(text, 1..6);
    let pattern = (
        proptest::sample::select(&["", "(?i)"][..]),
        proptest::sample::select(&[r"\b", ""][..]),
        proptest::sample::select(&["foo", "bar", "Bar", "z7", "b", "oo", "foobar", "kz", "zi"][..]),
        proptest::sample::select(&[r"\b", ""][..]),
    )
        .prop_map(|(flags, l, w, r)| format!("{flags}{l}{w}{r}"));
    let (pinned, matched, excluded) = (Cell::new(0), Cell::new(0), Cell::new(0));
    runner(CASES)
        .run(&(texts, pattern), |(texts, pattern)| {
            let grep = GrepPattern::new(&pattern).unwrap();
            let narrowing = Narrowing::of(&pattern);
            if narrowing.fragments().iter().any(|f| f.start || f.end) {
                pinned.set(pinned.get() + 1);
            }
            check_sound(&texts, &pattern, &grep, &narrowing, &matched, &excluded)
        })
        .unwrap();
    let (pinned, matched, excluded) = (pinned.get(), matched.get(), excluded.get());
    println!("{pinned} pinned, {matched} matching notes, {excluded} notes left out");
    assert!(pinned > CASES / 3, "{pinned} of {CASES} pinned");
    assert!(matched > CASES / 3, "{matched} matching notes");
    assert!(excluded > CASES / 2, "{excluded} notes left out");
}

/// Precision: for a case-insensitive ASCII word, the index's candidates are exactly the
/// notes grep matches, apart from matches inside runs too long to index.
#[test]
fn plain_words_narrow_exactly() {
    const CASES: u32 = 1_000;
    let ascii = prop_oneof![
        8 => proptest::sample::select(&["a", "b", "B", "ab", "Ba", "7", " ", "-", "\n", "the", "The"][..])
            .prop_map(str::to_owned),
        1 => Just("ab".repeat(MAX_TERM_BYTES / 2 + 1)),
    ];
    let texts = proptest::collection::vec(
        proptest::collection::vec(ascii, 0..16).prop_map(|p| p.concat()),
        1..8,
    );
    let narrowed = Cell::new(0);
    runner(CASES)
        .run(&(texts, "[abAB7]{1,4}"), |(texts, word)| {
            let lower = word.to_lowercase();
            if STOPWORDS.iter().any(|w| w.contains(&lower)) {
                prop_assert_eq!(Narrowing::of(&word), Narrowing::All);
                return Ok(());
            }
            narrowed.set(narrowed.get() + 1);
            let pattern = format!("(?i){word}");
            let narrowing = Narrowing::of(&pattern);
            prop_assert_eq!(&narrowing, &Narrowing::Fragment(Fragment::anywhere(lower)));
            let mut index = MemoryFragmentIndex::new();
            for (note, text) in texts.iter().enumerate() {
                index.insert(note, text);
            }
            let Candidates::Some(found) = narrowing.candidates(&mut index).unwrap() else {
                return Err(TestCaseError::fail("a fragment gave All"));
            };
            let grep = GrepPattern::new(&pattern).unwrap();
            for (note, text) in texts.iter().enumerate() {
                let matches = text.lines().any(|line| grep.is_match(line));
                let always = index.always_candidates().contains(&note);
                prop_assert!(
                    found.contains(&note) == matches || always,
                    "{pattern} on {text:?}"
                );
            }
            Ok(())
        })
        .unwrap();
    assert!(narrowed.get() > CASES / 2, "{} narrowed", narrowed.get());
}
