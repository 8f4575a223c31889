//! Glob patterns over note paths, matched in time linear in the pattern times the path.
//!
//! A pattern is parsed once into a small program (a Thompson NFA) and a path is matched by
//! stepping the set of live program states over its characters, as a regular-expression
//! engine without backtracking does. Brace groups are alternatives inside the program, never
//! expanded into separate patterns, and stars never backtrack; so one path costs at most
//! (program size) x (path length) steps, whatever the pattern. The caps below keep the program
//! small, and [`WorkBudget`] bounds the steps of one call over many paths: a listing that
//! spends it ends its page early with a cursor (see [`crate::files::FileIndex::glob`]).
//!
//! Syntax: `?` is one character other than `/`; `*` is any run of characters other than `/`;
//! `**` is any run of characters, `/` included, and `**/` also matches no folder at all (so
//! `**/*.md` matches `a.md` and `x/y/a.md`); `[abc]`, `[a-z]`, `[!a-z]` or `[^a-z]` is one
//! character (other than `/`) in or out of the set; `{a,b,c}` is one of its alternatives, which
//! may hold any syntax, nested braces too; `\` makes the next character literal. A leading `!`
//! (negation) is refused, as are unbalanced braces or brackets.

use thiserror::Error;

/// The longest pattern accepted, in bytes: a pattern naming one note needs at most the
/// longest path ([`crate::path::MAX_PATH_BYTES`]).
pub const MAX_GLOB_BYTES: usize = 1_024;
/// The most brace groups in one pattern.
pub const MAX_BRACE_GROUPS: usize = 16;
/// The most alternatives, summed over all brace groups of one pattern.
pub const MAX_BRACE_ALTERNATIVES: usize = 128;
/// The deepest nesting of brace groups.
pub const MAX_BRACE_DEPTH: usize = 4;
/// The matching steps one call may spend over all the paths it looks at (one step is one
/// program state visited for one character, or one range of a character class tried). A call
/// goes past it by at most one path's worst case ([`Glob::step_bound`]: the caps keep that
/// under twice the budget), so the worst call of the hostile catalogue takes a few tens of milliseconds
/// natively (the "Hostile patterns" section of `docs/benchmarks.md`).
pub const WORK_PER_CALL: u64 = 4_000_000;

/// Why a glob pattern is refused. Each message names the limit or the fault and where.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum GlobError {
    /// The pattern is longer than [`MAX_GLOB_BYTES`].
    #[error("the glob pattern is {len} bytes long; the limit is {max} bytes", max = MAX_GLOB_BYTES)]
    TooLong {
        /// The pattern's length in bytes.
        len: usize,
    },
    /// More brace groups than [`MAX_BRACE_GROUPS`].
    #[error(
        "the glob pattern has more than {max} brace groups ({{...}}); the limit is {max}",
        max = MAX_BRACE_GROUPS
    )]
    TooManyBraceGroups,
    /// More alternatives in all brace groups together than [`MAX_BRACE_ALTERNATIVES`].
    #[error(
        "the glob pattern's brace groups hold more than {max} alternatives in all; the limit is {max}",
        max = MAX_BRACE_ALTERNATIVES
    )]
    TooManyBraceAlternatives,
    /// Brace groups nested deeper than [`MAX_BRACE_DEPTH`].
    #[error(
        "the glob pattern nests brace groups more than {max} deep; the limit is {max}",
        max = MAX_BRACE_DEPTH
    )]
    BracesTooDeep,
    /// A `{` without its `}`.
    #[error("the glob pattern has a '{{' at byte {at} that is never closed")]
    UnclosedBrace {
        /// Byte offset of the `{`.
        at: usize,
    },
    /// A `}` without a `{`.
    #[error("the glob pattern has a '}}' at byte {at} that closes nothing")]
    UnopenedBrace {
        /// Byte offset of the `}`.
        at: usize,
    },
    /// A `[` without its `]`, or an empty set `[]`.
    #[error("the glob pattern has a '[' at byte {at} that is never closed or holds nothing")]
    UnclosedClass {
        /// Byte offset of the `[`.
        at: usize,
    },
    /// A `\` at the very end.
    #[error("the glob pattern ends with '\\', which escapes nothing")]
    TrailingEscape,
    /// A leading `!`.
    #[error("negated glob patterns ('!' at the start) are not supported")]
    Negated,
}

/// The matching steps left to one call; see [`WORK_PER_CALL`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkBudget {
    left: u64,
}

impl WorkBudget {
    /// A budget of `steps`.
    pub fn new(steps: u64) -> WorkBudget {
        WorkBudget { left: steps }
    }

    /// The budget of one tool call, [`WORK_PER_CALL`].
    pub fn per_call() -> WorkBudget {
        WorkBudget::new(WORK_PER_CALL)
    }

    /// Whether nothing is left.
    pub fn is_spent(&self) -> bool {
        self.left == 0
    }

    /// The steps left.
    pub fn left(&self) -> u64 {
        self.left
    }

    fn spend(&mut self, steps: u64) {
        self.left = self.left.saturating_sub(steps);
    }
}

/// One piece of a parsed pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    /// This character.
    Literal(char),
    /// `?`: one character other than `/`.
    One,
    /// `*`: any run of characters other than `/`.
    Star,
    /// `**` not followed by `/`: any run of characters.
    GlobStar,
    /// `**/`: nothing, or any run of characters ending with `/`.
    GlobStarSlash,
    /// `[...]`: one character other than `/`, in (or, negated, out of) the ranges.
    Class {
        /// `[!...]` or `[^...]`.
        negated: bool,
        /// Inclusive ranges.
        ranges: Vec<(char, char)>,
    },
    /// `{...}`: one of the alternatives.
    Braces(Vec<Vec<Piece>>),
}

/// A checked, compiled glob pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    source: String,
    program: Vec<Inst>,
    classes: Vec<(bool, Vec<(char, char)>)>,
    prefix: String,
}

/// One instruction of the program. Instructions that read a character move to the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inst {
    Char(char),
    /// Any character but `/`.
    NotSlash,
    /// Any character.
    Any,
    /// One character against `classes[i]`.
    Class(usize),
    /// Go on at both.
    Split(usize, usize),
    Jump(usize),
    Match,
}

impl Glob {
    /// Parses and checks `pattern` against the caps and syntax above.
    pub fn new(pattern: &str) -> Result<Glob, GlobError> {
        let pieces = parse(pattern)?;
        let mut compiler = Compiler::default();
        compiler.sequence(&pieces);
        compiler.program.push(Inst::Match);
        Ok(Glob {
            source: pattern.to_owned(),
            program: compiler.program,
            classes: compiler.classes,
            prefix: literal_prefix(&pieces),
        })
    }

    /// The pattern as given.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// What every matching path starts with: the pattern's literal start, cut back to its last
    /// `/` unless the whole pattern is literal. A listing scans only paths with this prefix.
    pub fn literal_prefix(&self) -> &str {
        &self.prefix
    }

    /// Whether `path` matches, with no budget.
    pub fn is_match(&self, path: &str) -> bool {
        self.matches(path, &mut WorkBudget::new(u64::MAX))
    }

    /// Whether `path` matches; the steps taken are taken from `budget` (the whole path is
    /// always matched: one path costs at most [`Glob::step_bound`]).
    pub fn matches(&self, path: &str, budget: &mut WorkBudget) -> bool {
        self.matches_with(path, budget, &mut Scratch::default())
    }

    /// The most steps matching one path of `chars` characters can take, per character and
    /// once more at the start: each state stepped (at most the program's size), each state
    /// taken off the closure stack (each state entered pushes at most two, plus the first),
    /// each class range tried.
    pub fn step_bound(&self, chars: usize) -> u64 {
        let ranges: usize = self.classes.iter().map(|(_, ranges)| ranges.len()).sum();
        ((3 * self.program.len() + 1 + ranges) as u64).saturating_mul(chars as u64 + 1)
    }

    /// A matcher that reuses its memory from one path to the next (for many paths).
    pub fn matcher(&self) -> Matcher<'_> {
        Matcher {
            glob: self,
            scratch: Scratch::default(),
        }
    }

    /// [`Glob::matches`] with state sets reused from earlier paths.
    fn matches_with(&self, path: &str, budget: &mut WorkBudget, scratch: &mut Scratch) -> bool {
        let size = self.program.len();
        let Scratch {
            current,
            next,
            stack,
        } = scratch;
        current.reset(size);
        next.reset(size);
        let mut steps = 0u64;
        self.add(current, 0, stack, &mut steps);
        for c in path.chars() {
            if current.is_empty() {
                break;
            }
            for &pc in current.live() {
                steps += 1;
                let moves = match self.program[pc] {
                    Inst::Char(want) => c == want,
                    Inst::NotSlash => c != '/',
                    Inst::Any => true,
                    Inst::Class(i) => {
                        let (negated, ranges) = &self.classes[i];
                        steps += ranges.len() as u64;
                        c != '/' && ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
                    }
                    Inst::Split(..) | Inst::Jump(_) | Inst::Match => false,
                };
                if moves {
                    self.add(next, pc + 1, stack, &mut steps);
                }
            }
            std::mem::swap(current, next);
            next.clear();
        }
        budget.spend(steps);
        current
            .live()
            .iter()
            .any(|&pc| self.program[pc] == Inst::Match)
    }

    /// Adds `pc` and every state reachable from it without reading a character.
    fn add(&self, set: &mut StateSet, pc: usize, stack: &mut Vec<usize>, steps: &mut u64) {
        stack.push(pc);
        while let Some(pc) = stack.pop() {
            // Every state taken off the stack is a step, those already in the set too.
            *steps += 1;
            if !set.insert(pc) {
                continue;
            }
            match self.program[pc] {
                Inst::Split(a, b) => {
                    stack.push(b);
                    stack.push(a);
                }
                Inst::Jump(to) => stack.push(to),
                _ => {}
            }
        }
    }
}

/// A [`Glob`] with memory reused from one path to the next.
#[derive(Debug)]
pub struct Matcher<'g> {
    glob: &'g Glob,
    scratch: Scratch,
}

impl Matcher<'_> {
    /// [`Glob::matches`], without allocating once warmed up.
    pub fn matches(&mut self, path: &str, budget: &mut WorkBudget) -> bool {
        self.glob.matches_with(path, budget, &mut self.scratch)
    }
}

/// Memory reused from one path to the next.
#[derive(Debug, Default)]
struct Scratch {
    current: StateSet,
    next: StateSet,
    stack: Vec<usize>,
}

/// A set of program states with insertion order, cleared in constant time.
#[derive(Debug, Default)]
struct StateSet {
    dense: Vec<usize>,
    sparse: Vec<usize>,
}

impl StateSet {
    /// Empties the set and sizes it for a program of `size` states.
    fn reset(&mut self, size: usize) {
        self.dense.clear();
        if self.sparse.len() < size {
            self.sparse.resize(size, 0);
        }
    }

    fn insert(&mut self, pc: usize) -> bool {
        let slot = self.sparse[pc];
        if slot < self.dense.len() && self.dense[slot] == pc {
            return false;
        }
        self.sparse[pc] = self.dense.len();
        self.dense.push(pc);
        true
    }

    fn live(&self) -> &[usize] {
        &self.dense
    }

    fn is_empty(&self) -> bool {
        self.dense.is_empty()
    }

    fn clear(&mut self) {
        self.dense.clear();
    }
}

#[derive(Default)]
struct Compiler {
    program: Vec<Inst>,
    classes: Vec<(bool, Vec<(char, char)>)>,
}

impl Compiler {
    fn sequence(&mut self, pieces: &[Piece]) {
        for piece in pieces {
            self.piece(piece);
        }
    }

    fn piece(&mut self, piece: &Piece) {
        match piece {
            Piece::Literal(c) => self.program.push(Inst::Char(*c)),
            Piece::One => self.program.push(Inst::NotSlash),
            Piece::Star => self.repeat(Inst::NotSlash),
            Piece::GlobStar => self.repeat(Inst::Any),
            Piece::GlobStarSlash => {
                // Split(body, out); body: any* '/'
                let split = self.placeholder();
                let body = self.program.len();
                self.repeat(Inst::Any);
                self.program.push(Inst::Char('/'));
                let out = self.program.len();
                self.program[split] = Inst::Split(body, out);
            }
            Piece::Class { negated, ranges } => {
                self.classes.push((*negated, ranges.clone()));
                self.program.push(Inst::Class(self.classes.len() - 1));
            }
            Piece::Braces(alternatives) => {
                let mut jumps = Vec::new();
                for (i, alternative) in alternatives.iter().enumerate() {
                    let last = i + 1 == alternatives.len();
                    let split = (!last).then(|| self.placeholder());
                    let start = self.program.len();
                    self.sequence(alternative);
                    if !last {
                        jumps.push(self.placeholder());
                    }
                    if let Some(split) = split {
                        self.program[split] = Inst::Split(start, self.program.len());
                    }
                }
                let out = self.program.len();
                for jump in jumps {
                    self.program[jump] = Inst::Jump(out);
                }
            }
        }
    }

    /// `inst*`: Split(read, out); read: inst; Jump(split).
    fn repeat(&mut self, inst: Inst) {
        let split = self.placeholder();
        self.program.push(inst);
        self.program.push(Inst::Jump(split));
        let out = self.program.len();
        self.program[split] = Inst::Split(split + 1, out);
    }

    fn placeholder(&mut self) -> usize {
        self.program.push(Inst::Match);
        self.program.len() - 1
    }
}

/// Parses `pattern` into pieces, checking the caps.
pub(crate) fn parse(pattern: &str) -> Result<Vec<Piece>, GlobError> {
    if pattern.len() > MAX_GLOB_BYTES {
        return Err(GlobError::TooLong { len: pattern.len() });
    }
    if pattern.starts_with('!') {
        return Err(GlobError::Negated);
    }
    let mut parser = Parser {
        chars: pattern.char_indices().collect(),
        at: 0,
        groups: 0,
        alternatives: 0,
    };
    let (pieces, end) = parser.sequence(0)?;
    match end {
        End::Pattern => Ok(pieces),
        End::Close(at) => Err(GlobError::UnopenedBrace { at }),
        End::Comma => unreachable!("a comma ends a sequence only inside braces"),
    }
}

struct Parser {
    chars: Vec<(usize, char)>,
    at: usize,
    groups: usize,
    alternatives: usize,
}

/// What ended a sequence.
enum End {
    Pattern,
    /// A `}` at this byte.
    Close(usize),
    Comma,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).map(|&(_, c)| c)
    }

    /// Pieces up to the end of the pattern, or (inside braces, `depth` > 0) a `,` or `}`.
    fn sequence(&mut self, depth: usize) -> Result<(Vec<Piece>, End), GlobError> {
        let mut pieces = Vec::new();
        while let Some(&(offset, c)) = self.chars.get(self.at) {
            self.at += 1;
            let piece = match c {
                '\\' => match self.peek() {
                    Some(escaped) => {
                        self.at += 1;
                        Piece::Literal(escaped)
                    }
                    None => return Err(GlobError::TrailingEscape),
                },
                '?' => Piece::One,
                '*' => {
                    let mut stars = 1;
                    while self.peek() == Some('*') {
                        self.at += 1;
                        stars += 1;
                    }
                    match (stars, self.peek()) {
                        (1, _) => Piece::Star,
                        (_, Some('/')) => {
                            self.at += 1;
                            Piece::GlobStarSlash
                        }
                        _ => Piece::GlobStar,
                    }
                }
                '[' => self.class(offset)?,
                '{' => self.braces(offset, depth + 1)?,
                '}' if depth > 0 => return Ok((pieces, End::Close(offset))),
                '}' => return Err(GlobError::UnopenedBrace { at: offset }),
                ',' if depth > 0 => return Ok((pieces, End::Comma)),
                c => Piece::Literal(c),
            };
            pieces.push(piece);
        }
        Ok((pieces, End::Pattern))
    }

    fn braces(&mut self, open: usize, depth: usize) -> Result<Piece, GlobError> {
        if depth > MAX_BRACE_DEPTH {
            return Err(GlobError::BracesTooDeep);
        }
        self.groups += 1;
        if self.groups > MAX_BRACE_GROUPS {
            return Err(GlobError::TooManyBraceGroups);
        }
        let mut alternatives = Vec::new();
        loop {
            self.alternatives += 1;
            if self.alternatives > MAX_BRACE_ALTERNATIVES {
                return Err(GlobError::TooManyBraceAlternatives);
            }
            let (pieces, end) = self.sequence(depth)?;
            alternatives.push(pieces);
            match end {
                End::Comma => continue,
                End::Close(_) => return Ok(Piece::Braces(alternatives)),
                End::Pattern => return Err(GlobError::UnclosedBrace { at: open }),
            }
        }
    }

    fn class(&mut self, open: usize) -> Result<Piece, GlobError> {
        let unclosed = GlobError::UnclosedClass { at: open };
        let negated = matches!(self.peek(), Some('!' | '^'));
        if negated {
            self.at += 1;
        }
        let mut ranges = Vec::new();
        loop {
            let lo = match self.peek() {
                None => return Err(unclosed),
                Some(']') => {
                    self.at += 1;
                    if ranges.is_empty() {
                        return Err(unclosed);
                    }
                    return Ok(Piece::Class { negated, ranges });
                }
                Some(_) => self.class_char().ok_or(unclosed.clone())?,
            };
            let is_range = self.peek() == Some('-')
                && self.chars.get(self.at + 1).is_some_and(|&(_, c)| c != ']');
            if is_range {
                self.at += 1;
                let hi = self.class_char().ok_or(unclosed.clone())?;
                ranges.push((lo, hi));
            } else {
                ranges.push((lo, lo));
            }
        }
    }

    /// One character of a class, `\` escapes included; `None` at the end of the pattern.
    fn class_char(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += 1;
        if c != '\\' {
            return Some(c);
        }
        let escaped = self.peek()?;
        self.at += 1;
        Some(escaped)
    }
}

/// The literal start of `pieces`, cut back to its last `/` unless every piece is literal.
fn literal_prefix(pieces: &[Piece]) -> String {
    let mut prefix = String::new();
    for piece in pieces {
        match piece {
            Piece::Literal(c) => prefix.push(*c),
            _ => {
                let cut = prefix.rfind('/').map_or(0, |slash| slash + 1);
                prefix.truncate(cut);
                return prefix;
            }
        }
    }
    prefix
}

#[cfg(test)]
mod tests;
