//! Narrowing a grep to the notes that can match: from a pattern, a query over the words the
//! search index keeps, so a caller reads only the notes whose words allow a match.
//!
//! [`Narrowing::of`] reads a pattern and returns what every match needs, as a tree of
//! [`Fragment`](Narrowing::Fragment)s (a piece of a word), [`And`](Narrowing::And) and
//! [`Or`](Narrowing::Or), or [`All`](Narrowing::All) when it cannot tell. The idea is Russ
//! Cox's trigram index ("Regular Expression Matching with a Trigram Index", 2012), over
//! substrings of the index's terms instead of trigrams: `deploy(ed|ing) v\d` needs
//! `deployed` or `deploying`, and `v`. [`Narrowing::candidates`] answers the tree with a
//! [`FragmentIndex`]; [`MemoryFragmentIndex`] is the reference one, built with the search
//! tokenizer and answered by scanning its terms.
//!
//! # What it never does
//! No I/O: the index is a trait the caller implements, and it is asked at most
//! [`MAX_LOOKUPS`] questions per call. It never matches text and never decides that a note
//! matches, only that it cannot. It never panics on any pattern.
//!
//! # The index contract
//! The index holds, for each note, the terms of the text grep searches (not its path; path
//! terms too only add candidates), as the search tokenizer makes them: maximal runs of
//! [`char::is_alphanumeric`] characters, each lowercased with [`char::to_lowercase`], minus
//! [`STOPWORDS`] and runs longer than [`MAX_TERM_BYTES`] after lowercasing.
//! [`FragmentIndex::notes_with`] answers "which notes have a term containing this fragment"
//! (or `None`: "not cheaply", taken as every note). A note with a dropped over-long run
//! ([`has_unindexed_run`]) is *always a candidate*: the index keeps that flag per note and the
//! caller adds those notes to every [`Candidates::Some`] answer.
//!
//! # Soundness
//! Given that contract, the candidates plus the always-candidates include every note in which
//! grep (`regex-lite`, line by line) finds a match. The argument: a match's text is a string
//! the pattern spells; every run of alphanumeric characters the pattern spells literally lies
//! inside one run of the note's text, whose term holds the run lowercased, so the term contains
//! the fragment. Hence the rules:
//! - a literal alphanumeric character is lowercased as the tokenizer does; any other
//!   character, `.`, `\w`, `\d`, `\s`, a negated or large class, ends a run (the run is then
//!   shorter, never wrong); a class of at most [`MAX_CLASS_CHARS`] characters is an
//!   alternation of them;
//! - assertions (`^`, `$`, `\b`) and flags match nothing, so they do not end a run;
//! - `\b` right before (after) a run whose first (last) character is an ASCII letter or digit
//!   other than `i` and `k` pins the run there: grep's `\b` is ASCII, so the text character
//!   before (after) the match is no ASCII word character, and in the note's term the run
//!   starts (ends) the term or touches a character lowercased from a non-ASCII one
//!   ([`Fragment`]; `i` and `k` are excluded because `İ` and the Kelvin sign lowercase to
//!   them);
//! - `x|y` needs what `x` needs or what `y` needs; `x?` is `x` or nothing; `x*` and `{0,n}`
//!   need nothing; `x+` and `{n,m}` with `n >= 1` need `x` (as `x`, anything, `x`);
//! - a run that is a substring of a stopword needs nothing (the note may hold it only inside
//!   that stopword, which is not indexed): `he`, `th`, `a`, `or`...;
//! - case: `regex-lite` folds ASCII letters only (`(?i)k` does not match the Kelvin sign, nor
//!   `(?i)σ` `Σ`), and an ASCII letter's two cases lowercase to the same character, so `(?i)`
//!   changes nothing here. (A grep engine with Unicode case folding would break this: `(?i)σ`
//!   would match `ς`, indexed as `ς`. The test `grep_folds_ascii_case_only` pins it.)
//!
//! Lines only make matching stricter (a line is part of the text), so they change nothing.
//!
//! # What gives [`All`](Narrowing::All)
//! A pattern `regex-syntax` cannot parse or longer than [`MAX_PATTERN_BYTES`]; one whose
//! matches need no literal run (`.*`, `\d+`, `[a-z]+`, `a?`), or only stopword pieces (`the`);
//! and the parts past the caps: at most [`MAX_FRAGMENTS`] fragments in a tree (requirements
//! of an `And` past the cap are dropped, an `Or` that does not fit becomes `All`), at most
//! [`MAX_EXACT`] strings spelled out for a part of the pattern before they are reduced to
//! their fragments.
//!
//! # Example
//! ```
//! use engine::grep::narrow::{Candidates, Fragment, MemoryFragmentIndex, Narrowing};
//!
//! let mut index = MemoryFragmentIndex::new();
//! index.insert("tomatoes.md", "Water the tomatoes.\nDeploy on Friday.");
//! index.insert("herbs.md", "Basil, thyme; deployed twice.");
//! index.insert("dune.md", "Spice and sand.");
//!
//! let narrowing = Narrowing::of(r"(?i)deploy(ed)?");
//! assert_eq!(narrowing, Narrowing::Fragment("deploy".into()));
//! let mut candidates = narrowing.candidates(&mut index)?;
//! candidates.extend(index.always_candidates().iter().copied()); // none here
//! assert_eq!(candidates, Candidates::Some(["herbs.md", "tomatoes.md"].into()));
//!
//! // Word boundaries pin the word: `deployed` does not end in `deploy`.
//! let word = Narrowing::of(r"(?i)\bdeploy\b");
//! let pinned = Fragment { text: "deploy".into(), start: true, end: true };
//! assert_eq!(word, Narrowing::Fragment(pinned));
//! assert_eq!(word.candidates(&mut index)?, Candidates::Some(["tomatoes.md"].into()));
//!
//! assert_eq!(Narrowing::of(r"\d+"), Narrowing::All); // every note can match
//! # Ok::<(), std::convert::Infallible>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};

use regex_syntax::ast::{self, Ast};

use super::MAX_PATTERN_BYTES;
use crate::search::{MAX_TERM_BYTES, STOPWORDS};

/// The most fragments in a narrowing from [`Narrowing::of`].
pub const MAX_FRAGMENTS: usize = 64;
/// The most distinct fragments [`Narrowing::candidates`] looks up; any past it counts as
/// [`All`](Narrowing::All).
pub const MAX_LOOKUPS: usize = MAX_FRAGMENTS;
/// The most strings a part of the pattern is spelled out as (`(a|b)(c|d)` is 4) before it
/// is reduced to the fragments each needs.
pub const MAX_EXACT: usize = 16;
/// The most characters a class (`[abc]`) may hold to be spelled out; larger ones are "any
/// character".
pub const MAX_CLASS_CHARS: usize = 8;
/// The most bytes of spelled-out strings for a part of the pattern.
const MAX_EXACT_BYTES: usize = 4 * MAX_PATTERN_BYTES;
/// Nesting deeper than this gives [`All`](Narrowing::All) (and bounds the recursion).
const NEST_LIMIT: u32 = 100;
/// In spelled-out strings, a character that ends a run: any character the tokenizer does
/// not keep, or an unknown one. No lowercased alphanumeric character contains it.
const BREAK: char = '\0';
/// In spelled-out strings, where the pattern asserts a word boundary (`\b`). No lowercased
/// alphanumeric character contains it either.
const BOUNDARY: char = '\u{1}';
/// The ASCII characters that lowercasing a non-ASCII alphanumeric character can give (`K`,
/// the Kelvin sign, gives `k`; `İ` gives `i` and a combining dot): next to one of these in a
/// term, the text may have held a character that is no ASCII word character. The test
/// `only_i_and_k_come_from_lowercasing_non_ascii` checks every character.
pub const ASCII_FROM_NON_ASCII: [char; 2] = ['i', 'k'];

/// A piece of a word that every match needs: a term containing `text` (lowercase,
/// alphanumeric), where the pattern may also pin the piece to a word boundary.
///
/// `start` (`end`): the pattern asserts `\b` right before (after) the piece, and the piece's
/// first (last) character is an ASCII letter or digit other than `i` and `k`, so the text
/// character matching it was that ASCII character. Grep's `\b` is ASCII (regex-lite): the
/// character before the match is then no ASCII word character, so in the note's term the
/// piece starts the term or follows a character that came from a non-ASCII one (itself
/// non-ASCII, or one of [`ASCII_FROM_NON_ASCII`]). [`Fragment::in_term`] tests exactly that.
/// `\bneedle7\b` is then the term `needle7` (or `éneedle7`), not `needle70`-`needle7999`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fragment {
    /// The piece, lowercase and alphanumeric.
    pub text: String,
    /// Pinned to a word boundary before it.
    pub start: bool,
    /// Pinned to a word boundary after it.
    pub end: bool,
}

impl Fragment {
    /// A piece anywhere in a term.
    pub fn anywhere(text: impl Into<String>) -> Fragment {
        Fragment {
            text: text.into(),
            start: false,
            end: false,
        }
    }

    /// Whether `term` (an index term: lowercase, alphanumeric) can hold this piece where a
    /// match puts it.
    pub fn in_term(&self, term: &str) -> bool {
        if !self.start && !self.end {
            return term.contains(self.text.as_str());
        }
        let open =
            |c: Option<char>| c.is_none_or(|c| !c.is_ascii() || ASCII_FROM_NON_ASCII.contains(&c));
        term.match_indices(self.text.as_str()).any(|(at, piece)| {
            (!self.start || open(term[..at].chars().next_back()))
                && (!self.end || open(term[at + piece.len()..].chars().next()))
        })
    }

    /// Whether every term that holds this piece holds `other` (so in an `And` `other` adds
    /// nothing, and in an `Or` this does not).
    fn implies(&self, other: &Fragment) -> bool {
        if !other.start && !other.end {
            return self.text.contains(other.text.as_str());
        }
        self.text == other.text && (self.start || !other.start) && (self.end || !other.end)
    }
}

impl From<&str> for Fragment {
    fn from(text: &str) -> Fragment {
        Fragment::anywhere(text)
    }
}

impl std::fmt::Display for Fragment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let edge = |pinned: bool| if pinned { "\\b" } else { "" };
        write!(f, "{}{}{}", edge(self.start), self.text, edge(self.end))
    }
}

/// What every note in which a grep pattern matches has among its terms.
///
/// Built simplified: `All` absorbs an `Or` and vanishes from an `And`; nested `And`s (and
/// `Or`s) are flattened, parts are sorted and deduplicated, and a fragment implied by
/// another is dropped (in an `And`, `dep` next to `deploy`; in an `Or`, `deploy` next to
/// `dep`). An `And` or `Or` has at least two parts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Narrowing {
    /// Any note may match.
    All,
    /// Notes with a term that holds this piece ([`Fragment::in_term`]).
    Fragment(Fragment),
    /// Notes that satisfy every part.
    And(Vec<Narrowing>),
    /// Notes that satisfy some part.
    Or(Vec<Narrowing>),
}

impl Narrowing {
    /// What a note needs for `pattern` (regex-lite syntax, as [`super::GrepPattern`] takes
    /// it) to match one of its lines. Patterns it cannot read give [`Narrowing::All`].
    pub fn of(pattern: &str) -> Narrowing {
        if pattern.len() > MAX_PATTERN_BYTES {
            return Narrowing::All;
        }
        let parsed = ast::parse::ParserBuilder::new()
            .nest_limit(NEST_LIMIT)
            .build()
            .parse(pattern);
        match parsed {
            Ok(ast) => analyze(&ast)
                .into_narrowing()
                .capped(&mut { MAX_FRAGMENTS }),
            Err(_) => Narrowing::All,
        }
    }

    /// Notes that satisfy every one of `parts`, simplified.
    pub fn and(parts: impl IntoIterator<Item = Narrowing>) -> Narrowing {
        Narrowing::and_of(parts.into_iter().collect())
    }

    // One copy of the code for every caller of `and` (the wasm bundle's size).
    fn and_of(parts: Vec<Narrowing>) -> Narrowing {
        let mut flat = Vec::new();
        for part in parts {
            match part {
                Narrowing::All => {}
                Narrowing::And(inner) => flat.extend(inner),
                other => flat.push(other),
            }
        }
        // In an And, a fragment inside another is implied by it.
        simplify(flat, Implied::Inside, Narrowing::And)
    }

    /// Notes that satisfy some one of `parts`, simplified. With no parts (which
    /// [`Narrowing::of`] never builds) it is [`Narrowing::All`], the safe answer.
    pub fn or(parts: impl IntoIterator<Item = Narrowing>) -> Narrowing {
        Narrowing::or_of(parts.into_iter().collect())
    }

    fn or_of(parts: Vec<Narrowing>) -> Narrowing {
        let mut flat = Vec::new();
        for part in parts {
            match part {
                Narrowing::All => return Narrowing::All,
                Narrowing::Or(inner) => flat.extend(inner),
                other => flat.push(other),
            }
        }
        // In an Or, a fragment containing another implies it.
        simplify(flat, Implied::Containing, Narrowing::Or)
    }

    /// The fragments of the tree, in order, repeats included.
    pub fn fragments(&self) -> Vec<&Fragment> {
        let mut out = Vec::new();
        self.collect_fragments(&mut out);
        out
    }

    fn collect_fragments<'a>(&'a self, out: &mut Vec<&'a Fragment>) {
        match self {
            Narrowing::All => {}
            Narrowing::Fragment(fragment) => out.push(fragment),
            Narrowing::And(parts) | Narrowing::Or(parts) => {
                parts.iter().for_each(|p| p.collect_fragments(out));
            }
        }
    }

    /// The tree with at most `budget` fragments, weaker where it had more: parts of an `And`
    /// past the budget are dropped, an `Or` that does not fit whole is `All`.
    fn capped(self, budget: &mut usize) -> Narrowing {
        match self {
            Narrowing::All => Narrowing::All,
            Narrowing::Fragment(text) if *budget > 0 => {
                *budget -= 1;
                Narrowing::Fragment(text)
            }
            Narrowing::Fragment(_) => Narrowing::All,
            Narrowing::And(parts) => Narrowing::and(
                parts
                    .into_iter()
                    .map(|p| p.capped(budget))
                    .collect::<Vec<_>>(),
            ),
            Narrowing::Or(parts) => {
                let count = parts.iter().map(|p| p.fragments().len()).sum::<usize>();
                if count > *budget {
                    Narrowing::All
                } else {
                    *budget -= count;
                    Narrowing::Or(parts)
                }
            }
        }
    }

    /// The notes `index` says may match: `And` intersects (stopping at an empty set), `Or`
    /// unites (stopping at `All`). Each distinct fragment is looked up once, at most
    /// [`MAX_LOOKUPS`] of them; a fragment longer than [`MAX_TERM_BYTES`] is in no term and
    /// is not looked up. The caller adds the index's always-candidates to the answer
    /// ([`Candidates::extend`]).
    pub fn candidates<I: FragmentIndex>(
        &self,
        index: &mut I,
    ) -> Result<Candidates<I::Note>, I::Error> {
        self.evaluate(index, &mut BTreeMap::new())
    }

    fn evaluate<I: FragmentIndex>(
        &self,
        index: &mut I,
        seen: &mut BTreeMap<Fragment, Candidates<I::Note>>,
    ) -> Result<Candidates<I::Note>, I::Error> {
        Ok(match self {
            Narrowing::All => Candidates::All,
            Narrowing::Fragment(fragment) if fragment.text.len() > MAX_TERM_BYTES => {
                Candidates::Some(BTreeSet::new())
            }
            Narrowing::Fragment(fragment) => match seen.get(fragment) {
                Some(known) => known.clone(),
                None if seen.len() >= MAX_LOOKUPS => Candidates::All,
                None => {
                    let found = match index.notes_with(fragment)? {
                        Some(notes) => Candidates::Some(notes),
                        None => Candidates::All,
                    };
                    seen.insert(fragment.clone(), found.clone());
                    found
                }
            },
            Narrowing::And(parts) => {
                let mut all = Candidates::All;
                for part in parts {
                    all = all.intersect(part.evaluate(index, seen)?);
                    if all.is_empty() {
                        break;
                    }
                }
                all
            }
            Narrowing::Or(parts) => {
                let mut any = Candidates::Some(BTreeSet::new());
                for part in parts {
                    any = any.unite(part.evaluate(index, seen)?);
                    if any == Candidates::All {
                        break;
                    }
                }
                any
            }
        })
    }
}

/// Which fragments of an `And` or `Or` are implied by another and go.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Implied {
    /// In an And, a fragment inside another: longest first, each checked against those kept.
    Inside,
    /// In an Or, a fragment containing another: shortest first, likewise.
    Containing,
}

/// Sorts and deduplicates `parts`, drops the implied fragments, and wraps what is left in
/// `wrap` (one part stands alone; none is `All`). Implication is transitive, so each
/// fragment is compared with the kept ones only: `w0|w1|...|w119` keeps 10 and costs 1,200
/// comparisons, not 14,400.
fn simplify(
    parts: Vec<Narrowing>,
    implied: Implied,
    wrap: fn(Vec<Narrowing>) -> Narrowing,
) -> Narrowing {
    let (mut fragments, mut parts): (Vec<Narrowing>, Vec<Narrowing>) = parts
        .into_iter()
        .partition(|p| matches!(p, Narrowing::Fragment(_)));
    // Stronger first for an And (longer, then pinned), weaker first for an Or.
    let strength = |p: &Narrowing| match p {
        Narrowing::Fragment(f) => (f.text.len(), usize::from(f.start) + usize::from(f.end)),
        _ => (0, 0),
    };
    fragments.sort_unstable();
    fragments.dedup();
    match implied {
        Implied::Inside => fragments.sort_by_key(|f| std::cmp::Reverse(strength(f))),
        Implied::Containing => fragments.sort_by_key(strength),
    }
    let first_part = parts.len();
    for fragment in fragments {
        let Narrowing::Fragment(f) = &fragment else {
            continue;
        };
        let is_implied = parts[first_part..].iter().any(|kept| match kept {
            Narrowing::Fragment(k) if implied == Implied::Inside => k.implies(f),
            Narrowing::Fragment(k) => f.implies(k),
            _ => false,
        });
        if !is_implied {
            parts.push(fragment);
        }
    }
    parts.sort_unstable();
    parts.dedup();
    match parts.len() {
        0 => Narrowing::All,
        1 => parts.pop().unwrap_or(Narrowing::All),
        _ => wrap(parts),
    }
}

/// An index of note terms that can tell which notes have a term containing a fragment.
/// See the module docs for the contract.
pub trait FragmentIndex {
    /// How the index names a note.
    type Note: Ord + Clone;
    /// Why a lookup failed.
    type Error;
    /// The notes with a term that holds `fragment` ([`Fragment::in_term`]; its text at most
    /// [`MAX_TERM_BYTES`] bytes), or `None` if the index cannot tell cheaply (every note is
    /// then a candidate). Always-candidates need not be included.
    fn notes_with(
        &mut self,
        fragment: &Fragment,
    ) -> Result<Option<BTreeSet<Self::Note>>, Self::Error>;
}

/// The notes a grep must read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Candidates<N> {
    /// Every note.
    All,
    /// These notes only.
    Some(BTreeSet<N>),
}

impl<N: Ord> Candidates<N> {
    /// Whether `note` must be read.
    pub fn contains(&self, note: &N) -> bool {
        match self {
            Candidates::All => true,
            Candidates::Some(notes) => notes.contains(note),
        }
    }

    /// Adds `notes` (the index's always-candidates) to the set; `All` stays `All`.
    pub fn extend(&mut self, notes: impl IntoIterator<Item = N>) {
        if let Candidates::Some(set) = self {
            set.extend(notes);
        }
    }

    fn is_empty(&self) -> bool {
        matches!(self, Candidates::Some(set) if set.is_empty())
    }

    fn intersect(self, other: Candidates<N>) -> Candidates<N> {
        match (self, other) {
            (Candidates::All, x) | (x, Candidates::All) => x,
            (Candidates::Some(mut a), Candidates::Some(b)) => {
                a.retain(|n| b.contains(n));
                Candidates::Some(a)
            }
        }
    }

    fn unite(self, other: Candidates<N>) -> Candidates<N> {
        match (self, other) {
            (Candidates::Some(mut a), Candidates::Some(b)) => {
                a.extend(b);
                Candidates::Some(a)
            }
            _ => Candidates::All,
        }
    }
}

/// Whether `text` holds a run of alphanumeric characters longer than [`MAX_TERM_BYTES`]
/// once lowercased: a run the index drops, which makes the note an always-candidate.
pub fn has_unindexed_run(text: &str) -> bool {
    // The tokenizer's own account, so the two can never disagree on what was dropped.
    crate::search::for_each_term_noting_long(text, |_| {})
}

/// The reference [`FragmentIndex`]: each term and its notes, in memory, built with the
/// search tokenizer and answered by scanning every term. For tests and tools.
#[derive(Debug, Clone)]
pub struct MemoryFragmentIndex<N> {
    terms: BTreeMap<String, BTreeSet<N>>,
    always: BTreeSet<N>,
}

impl<N: Ord + Clone> MemoryFragmentIndex<N> {
    /// An empty index.
    pub fn new() -> MemoryFragmentIndex<N> {
        MemoryFragmentIndex {
            terms: BTreeMap::new(),
            always: BTreeSet::new(),
        }
    }

    /// Indexes `note`'s `text` (the text grep searches, without the path).
    pub fn insert(&mut self, note: N, text: &str) {
        crate::search::for_each_term(text, |term| {
            self.terms
                .entry(term.to_owned())
                .or_default()
                .insert(note.clone());
        });
        if has_unindexed_run(text) {
            self.always.insert(note);
        }
    }

    /// The notes with a run too long to index: candidates for every pattern.
    pub fn always_candidates(&self) -> &BTreeSet<N> {
        &self.always
    }
}

impl<N: Ord + Clone> Default for MemoryFragmentIndex<N> {
    fn default() -> Self {
        MemoryFragmentIndex::new()
    }
}

impl<N: Ord + Clone> FragmentIndex for MemoryFragmentIndex<N> {
    type Note = N;
    type Error = std::convert::Infallible;

    fn notes_with(&mut self, fragment: &Fragment) -> Result<Option<BTreeSet<N>>, Self::Error> {
        let mut notes = BTreeSet::new();
        for (term, holders) in &self.terms {
            if fragment.in_term(term) {
                notes.extend(holders.iter().cloned());
            }
        }
        Ok(Some(notes))
    }
}

/// What one part of the pattern says about the strings it matches.
#[derive(Debug)]
struct Info {
    /// Every string the part can match, spelled as the index sees it (alphanumeric
    /// characters lowercased, anything else [`BREAK`]); `None` if unknown or too many.
    exact: Option<BTreeSet<String>>,
    /// What a match needs besides being one of `exact`.
    need: Narrowing,
}

impl Info {
    fn unknown() -> Info {
        Info {
            exact: None,
            need: Narrowing::All,
        }
    }

    fn empty() -> Info {
        Info::exact([String::new()].into(), Narrowing::All)
    }

    /// `exact` if it is small enough to keep spelling out, else its fragments.
    fn exact(set: BTreeSet<String>, need: Narrowing) -> Info {
        let bytes: usize = set.iter().map(String::len).sum();
        if set.len() <= MAX_EXACT && bytes <= MAX_EXACT_BYTES {
            Info {
                exact: Some(set),
                need,
            }
        } else {
            Info {
                need: Narrowing::and([need, fragments_of(&set)]),
                exact: None,
            }
        }
    }

    fn into_narrowing(self) -> Narrowing {
        match self.exact {
            Some(set) => Narrowing::and([self.need, fragments_of(&set)]),
            None => self.need,
        }
    }
}

/// Some string of `set` is the match: its runs are needed (each is inside a term), except
/// those inside a stopword; a run with a word boundary at an end is pinned there when its
/// character there allows ([`Fragment`]).
fn fragments_of(set: &BTreeSet<String>) -> Narrowing {
    Narrowing::or(
        set.iter()
            .map(|s| Narrowing::and(s.split(BREAK).filter_map(run_fragment).collect::<Vec<_>>())),
    )
}

/// The fragment a spelled-out run needs, or `None` when it needs nothing (empty, or inside a
/// stopword). A boundary inside the run pins nothing (the run stays whole: `é\bx` can match).
fn run_fragment(run: &str) -> Option<Narrowing> {
    let text: String = run.chars().filter(|&c| c != BOUNDARY).collect();
    if text.is_empty() || STOPWORDS.iter().any(|w| w.contains(text.as_str())) {
        return None;
    }
    let pins = |c: Option<char>| {
        c.is_some_and(|c| c.is_ascii_alphanumeric() && !ASCII_FROM_NON_ASCII.contains(&c))
    };
    Some(Narrowing::Fragment(Fragment {
        start: run.starts_with(BOUNDARY) && pins(text.chars().next()),
        end: run.ends_with(BOUNDARY) && pins(text.chars().next_back()),
        text,
    }))
}

/// How the index spells `c`: lowercased as the tokenizer does, or a [`BREAK`].
fn spell(c: char) -> String {
    if c.is_alphanumeric() {
        c.to_lowercase().collect()
    } else {
        BREAK.to_string()
    }
}

fn analyze(ast: &Ast) -> Info {
    match ast {
        Ast::Assertion(assertion) if assertion.kind == ast::AssertionKind::WordBoundary => {
            Info::exact([BOUNDARY.to_string()].into(), Narrowing::All)
        }
        Ast::Empty(_) | Ast::Flags(_) | Ast::Assertion(_) => Info::empty(),
        Ast::Literal(literal) => Info::exact([spell(literal.c)].into(), Narrowing::All),
        Ast::Dot(_) | Ast::ClassUnicode(_) | Ast::ClassPerl(_) => any_char(),
        Ast::ClassBracketed(class) => {
            let mut chars = BTreeSet::new();
            if class.negated || !class_chars(&class.kind, &mut chars) {
                return any_char();
            }
            Info::exact(chars.into_iter().map(spell).collect(), Narrowing::All)
        }
        Ast::Repetition(repetition) => repeat(&repetition.op.kind, analyze(&repetition.ast)),
        Ast::Group(group) => analyze(&group.ast),
        Ast::Alternation(alternation) => alternate(alternation.asts.iter().map(analyze)),
        Ast::Concat(concat) => concatenate(concat.asts.iter().map(analyze)),
    }
}

/// One character, unknown: it ends a run.
fn any_char() -> Info {
    Info::exact([BREAK.to_string()].into(), Narrowing::All)
}

/// Adds the characters of a class to `chars`; false if the class is not a plain list of
/// at most [`MAX_CLASS_CHARS`] characters and ranges.
fn class_chars(set: &ast::ClassSet, chars: &mut BTreeSet<char>) -> bool {
    fn add(item: &ast::ClassSetItem, chars: &mut BTreeSet<char>) -> bool {
        match item {
            ast::ClassSetItem::Empty(_) => true,
            ast::ClassSetItem::Literal(literal) => {
                chars.insert(literal.c);
                chars.len() <= MAX_CLASS_CHARS
            }
            ast::ClassSetItem::Range(range) => {
                let (start, end) = (range.start.c, range.end.c);
                if (end as u32).saturating_sub(start as u32) >= MAX_CLASS_CHARS as u32 {
                    return false;
                }
                chars.extend(start..=end);
                chars.len() <= MAX_CLASS_CHARS
            }
            ast::ClassSetItem::Union(union) => union.items.iter().all(|i| add(i, chars)),
            ast::ClassSetItem::Ascii(_)
            | ast::ClassSetItem::Unicode(_)
            | ast::ClassSetItem::Perl(_)
            | ast::ClassSetItem::Bracketed(_) => false,
        }
    }
    match set {
        ast::ClassSet::Item(one) => add(one, chars),
        ast::ClassSet::BinaryOp(_) => false,
    }
}

/// `x` repeated: `{0}` is empty, `?` is `x` or empty, `*` needs nothing, `{1}` is `x`, and
/// `+` (`{n,m}`, `n >= 1`) matches `x`, anything, `x`: it needs what `x` needs, and the
/// runs at its two ends keep their neighbours.
fn repeat(kind: &ast::RepetitionKind, inner: Info) -> Info {
    use ast::{RepetitionKind as K, RepetitionRange as R};
    let (min, max) = match kind {
        K::ZeroOrOne => (0, Some(1)),
        K::ZeroOrMore => (0, None),
        K::OneOrMore => (1, None),
        K::Range(R::Exactly(n)) => (*n, Some(*n)),
        K::Range(R::AtLeast(n)) => (*n, None),
        K::Range(R::Bounded(n, m)) => (*n, Some(*m)),
    };
    match (min, max, inner.exact) {
        (_, Some(0), _) => Info::empty(),
        (0, Some(1), Some(mut set)) => {
            set.insert(String::new());
            Info::exact(set, Narrowing::All)
        }
        (0, _, _) => Info::unknown(),
        (1, Some(1), exact) => Info {
            exact,
            need: inner.need,
        },
        (_, _, Some(set)) if set.len() * set.len() <= MAX_EXACT => {
            let ends = set
                .iter()
                .flat_map(|first| set.iter().map(move |last| format!("{first}{BREAK}{last}")))
                .collect();
            Info::exact(ends, inner.need)
        }
        // At least one copy of `x` is in the match.
        (_, _, exact) => Info {
            exact: None,
            need: Info {
                exact,
                need: inner.need,
            }
            .into_narrowing(),
        },
    }
}

/// `x|y|...`: one of the branches' strings if all are known and few, else some branch's
/// needs.
fn alternate(branches: impl Iterator<Item = Info>) -> Info {
    let branches: Vec<Info> = branches.collect();
    if branches.iter().all(|b| b.exact.is_some()) {
        let mut set = BTreeSet::new();
        let mut needs = Vec::new();
        for branch in &branches {
            set.extend(branch.exact.iter().flatten().cloned());
            needs.push(branch.need.clone());
        }
        if set.len() <= MAX_EXACT {
            return Info::exact(set, Narrowing::or(needs));
        }
    }
    Info {
        exact: None,
        need: Narrowing::or(
            branches
                .into_iter()
                .map(Info::into_narrowing)
                .collect::<Vec<_>>(),
        ),
    }
}

/// `xy...`: the strings spelled out while they stay few, and the needs of what could not be.
fn concatenate(parts: impl Iterator<Item = Info>) -> Info {
    let mut done: Vec<Narrowing> = Vec::new();
    let mut current = Info::empty();
    for part in parts {
        current = match (current.exact, part.exact) {
            (Some(left), Some(right)) if left.len() * right.len() <= MAX_EXACT => {
                let product = left
                    .iter()
                    .flat_map(|l| right.iter().map(move |r| format!("{l}{r}")))
                    .collect();
                let need = Narrowing::and([current.need, part.need]);
                Info::exact(product, need)
            }
            (left, right) => {
                let left = Info {
                    exact: left,
                    need: current.need,
                };
                done.push(left.into_narrowing());
                Info {
                    exact: right,
                    need: part.need,
                }
            }
        };
    }
    if done.is_empty() {
        return current;
    }
    done.push(current.into_narrowing());
    Info {
        exact: None,
        need: Narrowing::and(done),
    }
}

// Its generators serve other tests of grep candidates (`store::grep`).
#[cfg(test)]
pub(crate) mod tests;
