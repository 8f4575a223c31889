use std::convert::Infallible;

use super::*;
use crate::grep::GrepPattern;

fn f(text: &str) -> Narrowing {
    Narrowing::Fragment(text.to_owned())
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
#[derive(Debug, Default)]
struct Counting {
    lookups: Vec<String>,
}

impl FragmentIndex for Counting {
    type Note = u32;
    type Error = Infallible;

    fn notes_with(&mut self, fragment: &str) -> Result<Option<BTreeSet<u32>>, Infallible> {
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
    assert_eq!(narrowing.fragments()[0], "word000");
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
