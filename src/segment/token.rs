//! Liveness tokens, and the per-slot tables that count what each token
//! holds.
//!
//! # A token (29 bits)
//!
//! | bits    | meaning                                                      |
//! |---------|--------------------------------------------------------------|
//! | 0..=9   | the holder's registry slot                                   |
//! | 10..=28 | the generation it set in that slot (the counter's low 19 bits) |
//!
//! Lock words keep a token in their low [`Token::BITS`] bits and their
//! flags above; [`Token::from_bits`] reads it back, ignoring the flags.
//!
//! # A slot table entry (32 bits)
//!
//! A [`SlotTable`] has one word per registry slot, for the handle that holds
//! the slot (the rwlock's readers, the owned semaphore's holders):
//!
//! | bits    | meaning                                                    |
//! |---------|------------------------------------------------------------|
//! | 0..=18  | generation of the token the count belongs to               |
//! | 19..=31 | what that token holds (at most [`SlotTable::MAX_COUNT`])   |
//!
//! An entry tagged with another generation than a token's belonged to an
//! earlier holder of the slot, which is gone: for that token it holds 0, and
//! the token's first add replaces it. All zeros is an empty table.
//!
//! Every index comes from a token, so from shared memory: a slot past the
//! table is no entry ([`SlotTable::holds`] is `None`), never an
//! out-of-bounds access.

use std::fmt;

use crate::primitive::{AtomicU32, Ordering};

/// Bits of slot index kept in a token.
const SLOT_BITS: u32 = 10;
const SLOT_MASK: u32 = (1 << SLOT_BITS) - 1;
/// Bits of generation kept in a token and in a table entry.
const GEN_BITS: u32 = 19;
const GEN_MASK: u32 = (1 << GEN_BITS) - 1;
/// One count in a table entry.
const COUNT_ONE: u32 = 1 << GEN_BITS;

/// Most slots a segment may have: tokens keep the slot in 10 bits.
pub const MAX_SLOTS: u32 = 1 << SLOT_BITS;

/// Names a holder of a liveness slot: the slot and the generation it set
/// when it claimed it. A token is alive while its slot's lock is held and
/// the slot's generation is still the token's (see the registry).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct Token(u32);

impl Token {
    /// Bits a token occupies in a word; lock words put their flags above.
    pub const BITS: u32 = SLOT_BITS + GEN_BITS;
    /// Mask of the token bits in a word.
    pub const MASK: u32 = (1 << Self::BITS) - 1;

    /// The token of the holder of `slot` that set generation `counter`
    /// (only its low bits are kept, as in every token).
    #[inline]
    pub const fn from_slot_generation(slot: u32, counter: u32) -> Token {
        Token(((counter & GEN_MASK) << SLOT_BITS) | (slot & SLOT_MASK))
    }

    /// The token in the low [`Token::BITS`] bits of `word`; the bits above
    /// (a lock word's flags) are ignored.
    #[inline]
    pub const fn from_bits(word: u32) -> Token {
        Token(word & Self::MASK)
    }

    /// The token as it is stored in a word (below [`Token::MASK`]).
    #[inline]
    pub const fn to_bits(self) -> u32 {
        self.0
    }

    /// The registry slot.
    #[inline]
    pub const fn slot(self) -> u32 {
        self.0 & SLOT_MASK
    }

    /// The generation, as kept in a token.
    #[inline]
    pub const fn generation(self) -> u32 {
        self.0 >> SLOT_BITS
    }

    /// Whether a slot's generation counter still reads this token's
    /// generation.
    #[inline]
    pub const fn is_generation(self, counter: u32) -> bool {
        counter & GEN_MASK == self.generation()
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token").field("slot", &self.slot()).field("generation", &self.generation()).finish()
    }
}

/// The count of an entry.
#[inline]
const fn count(entry: u32) -> u32 {
    entry >> GEN_BITS
}

/// What `entry` holds for a token of `generation`.
#[inline]
const fn held(entry: u32, generation: u32) -> u32 {
    if entry & GEN_MASK == generation { count(entry) } else { 0 }
}

/// A table of one entry per registry slot, counting what the token that
/// holds each slot holds (see the module docs for an entry's bits).
///
/// The table states the entries' format; the orderings, and whether
/// writers race (CAS forms) or take turns under a lock (`_locked` forms),
/// are the caller's protocol.
#[derive(Clone, Copy)]
pub(crate) struct SlotTable<'a> {
    entries: &'a [AtomicU32],
}

impl<'a> SlotTable<'a> {
    /// Most a token may hold in one entry.
    pub const MAX_COUNT: u32 = u32::MAX >> GEN_BITS;

    /// The table over `entries`; only the first [`MAX_SLOTS`] can be named
    /// by a token, so only those are used.
    #[inline]
    pub fn new(entries: &'a [AtomicU32]) -> SlotTable<'a> {
        SlotTable { entries: &entries[..entries.len().min(MAX_SLOTS as usize)] }
    }

    /// The entry of `token`'s slot; `None` if the slot lies past the table
    /// (a corrupted token).
    #[inline]
    pub fn holds(&self, token: Token) -> Option<Holds<'a>> {
        let word = self.entries.get(token.slot() as usize)?;
        Some(Holds { word, generation: token.generation() })
    }

    /// Whether some entry has a non-zero count, whoever it belongs to. The
    /// entries are OR-ed together (the count fields line up), with no
    /// branch per entry.
    #[inline]
    pub fn any_held(&self, order: Ordering) -> bool {
        count(self.entries.iter().fold(0, |acc, e| acc | e.load(order))) != 0
    }

    /// The sum of every entry's count (saturating), whoever it belongs to.
    pub fn total_held(&self, order: Ordering) -> u32 {
        self.entries.iter().fold(0u32, |acc, e| acc.saturating_add(count(e.load(order))))
    }

    /// Every entry with a non-zero count, as it was when loaded (with
    /// `order`), and the token it belongs to.
    pub fn holders(&self, order: Ordering) -> impl Iterator<Item = Holder> + 'a {
        self.entries.iter().enumerate().filter_map(move |(slot, e)| {
            let seen = e.load(order);
            (count(seen) != 0).then(|| Holder {
                token: Token::from_slot_generation(slot as u32, seen),
                count: count(seen),
                seen,
            })
        })
    }

    /// Empties the entry of `holder` (a dead token) if it is still what
    /// [`holders`](Self::holders) saw: one CAS (Relaxed), so of several
    /// callers only one clears it, and whatever it held goes exactly once.
    /// The generation stays, so the entry does not come back to life.
    pub fn clear(&self, holder: &Holder) -> bool {
        let Some(word) = self.entries.get(holder.token.slot() as usize) else { return false };
        word.compare_exchange(holder.seen, holder.seen & GEN_MASK, Ordering::Relaxed, Ordering::Relaxed).is_ok()
    }
}

/// An entry with a non-zero count, seen by [`SlotTable::holders`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Holder {
    /// The token the count belongs to: the entry's slot and generation.
    pub token: Token,
    /// What it holds.
    pub count: u32,
    /// The entry as it was seen.
    seen: u32,
}

/// One token's entry in a [`SlotTable`]: what it holds, and the means to
/// change that.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Holds<'a> {
    word: &'a AtomicU32,
    generation: u32,
}

impl Holds<'_> {
    /// What the token holds: the entry's count if the entry is the token's,
    /// else 0.
    #[inline]
    pub fn count(&self, order: Ordering) -> u32 {
        held(self.word.load(order), self.generation)
    }

    /// Adds one to what the token holds, by CAS (`order` on success,
    /// Relaxed otherwise): for writers that race. A count an earlier
    /// generation left is dropped. `false` if the token already holds
    /// [`SlotTable::MAX_COUNT`].
    #[inline]
    pub fn add_one(&self, order: Ordering) -> bool {
        let mut e = self.word.load(Ordering::Relaxed);
        loop {
            let held = held(e, self.generation);
            if held >= SlotTable::MAX_COUNT {
                return false;
            }
            let next = ((held + 1) << GEN_BITS) | self.generation;
            match self.word.compare_exchange_weak(e, next, order, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(actual) => e = actual,
            }
        }
    }

    /// Takes one off what the token holds, by CAS (`order` on success,
    /// Relaxed otherwise): for writers that race. `false`, changing
    /// nothing, if the token holds nothing (the entry is not its own any
    /// more, say a corrupted one).
    #[inline]
    pub fn remove_one(&self, order: Ordering) -> bool {
        let mut e = self.word.load(Ordering::Relaxed);
        loop {
            if held(e, self.generation) == 0 {
                return false;
            }
            match self.word.compare_exchange_weak(e, e - COUNT_ONE, order, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(actual) => e = actual,
            }
        }
    }

    /// Adds `n` to what the token holds, with a plain (Relaxed) load and
    /// store: for tables whose writers all hold one lock. Returns the count
    /// an earlier generation left in the entry, now dropped (the caller
    /// gives it back); `None`, changing nothing, if the count would pass
    /// [`SlotTable::MAX_COUNT`].
    pub fn add_locked(&self, n: u32) -> Option<u32> {
        let e = self.word.load(Ordering::Relaxed);
        let (held, stale) = if e & GEN_MASK == self.generation { (count(e), 0) } else { (0, count(e)) };
        let next = held.checked_add(n).filter(|&c| c <= SlotTable::MAX_COUNT)?;
        self.word.store((next << GEN_BITS) | self.generation, Ordering::Relaxed);
        Some(stale)
    }

    /// Takes `n` off what the token holds, with a plain (Relaxed) load and
    /// store: for tables whose writers all hold one lock. `false`, changing
    /// nothing, if it holds fewer.
    pub fn remove_locked(&self, n: u32) -> bool {
        let e = self.word.load(Ordering::Relaxed);
        if held(e, self.generation) < n {
            return false;
        }
        self.word.store(e - (n << GEN_BITS), Ordering::Relaxed);
        true
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn table(words: &[u32]) -> Vec<AtomicU32> {
        words.iter().map(|&w| AtomicU32::new(w)).collect()
    }

    #[test]
    fn token_bits_round_trip() {
        let t = Token::from_slot_generation(1023, (1 << GEN_BITS) + 5);
        assert_eq!((t.slot(), t.generation()), (1023, 5));
        assert_eq!(Token::from_bits(t.to_bits() | 0xE000_0000), t);
        assert!(t.to_bits() <= Token::MASK);
        assert!(t.is_generation(5) && t.is_generation((3 << GEN_BITS) | 5) && !t.is_generation(6));
        assert_eq!(format!("{t:?}"), "Token { slot: 1023, generation: 5 }");
    }

    #[test]
    fn the_bits_stay_where_they_are() {
        // The in-segment format: slot low, generation above; entries keep
        // the generation low and the count above.
        assert_eq!(Token::from_slot_generation(3, 2).to_bits(), (2 << 10) | 3);
        assert_eq!(Token::MASK, (1 << 29) - 1);
        assert_eq!(SlotTable::MAX_COUNT, (1 << 13) - 1);
        let words = table(&[0, 0]);
        let holds = SlotTable::new(&words).holds(Token::from_slot_generation(1, 7)).unwrap();
        assert!(holds.add_one(Ordering::SeqCst));
        assert_eq!(words[1].load(Ordering::Relaxed), (1 << 19) | 7);
    }

    #[test]
    fn a_slot_past_the_table_is_no_entry() {
        let words = table(&[0; 4]);
        let t = SlotTable::new(&words);
        assert!(t.holds(Token::from_slot_generation(4, 1)).is_none());
        assert!(t.holds(Token::from_slot_generation(3, 1)).is_some());
        let big = table(&vec![0; MAX_SLOTS as usize + 8]);
        assert_eq!(SlotTable::new(&big).entries.len(), MAX_SLOTS as usize);
    }

    #[test]
    fn another_generation_holds_nothing_and_is_replaced() {
        let old = (3 << GEN_BITS) | 1;
        let words = table(&[old]);
        let t = SlotTable::new(&words);
        let h = t.holds(Token::from_slot_generation(0, 2)).unwrap();
        assert_eq!(h.count(Ordering::Relaxed), 0);
        assert!(!h.remove_one(Ordering::SeqCst));
        assert!(!h.remove_locked(1));
        assert_eq!(words[0].load(Ordering::Relaxed), old, "nothing changed");
        assert!(h.add_one(Ordering::SeqCst));
        assert_eq!(words[0].load(Ordering::Relaxed), (1 << GEN_BITS) | 2);

        let words = table(&[old]);
        let h = SlotTable::new(&words).holds(Token::from_slot_generation(0, 2)).unwrap();
        assert_eq!(h.add_locked(2), Some(3), "the stale count is handed back");
        assert_eq!(h.count(Ordering::Relaxed), 2);
        assert!(h.remove_locked(2));
        assert_eq!(words[0].load(Ordering::Relaxed), 2, "empty, generation kept");
    }

    #[test]
    fn counts_stop_at_the_maximum() {
        let full = (SlotTable::MAX_COUNT << GEN_BITS) | 1;
        let words = table(&[full]);
        let h = SlotTable::new(&words).holds(Token::from_slot_generation(0, 1)).unwrap();
        assert_eq!(h.count(Ordering::Relaxed), SlotTable::MAX_COUNT);
        assert!(!h.add_one(Ordering::SeqCst));
        assert_eq!(h.add_locked(1), None);
        assert_eq!(h.add_locked(u32::MAX), None);
        assert_eq!(words[0].load(Ordering::Relaxed), full);
        assert!(h.remove_one(Ordering::SeqCst));
        assert_eq!(h.count(Ordering::Relaxed), SlotTable::MAX_COUNT - 1);
    }

    #[test]
    fn holders_sums_and_clears() {
        let words = table(&[0, (2 << GEN_BITS) | 5, 9, (1 << GEN_BITS) | 6]);
        let t = SlotTable::new(&words);
        assert!(t.any_held(Ordering::Relaxed));
        assert_eq!(t.total_held(Ordering::Relaxed), 3);
        let holders: Vec<_> = t.holders(Ordering::Relaxed).collect();
        let tokens: Vec<_> = holders.iter().map(|h| (h.token, h.count)).collect();
        assert_eq!(tokens, [(Token::from_slot_generation(1, 5), 2), (Token::from_slot_generation(3, 6), 1)]);
        assert!(t.clear(&holders[0]));
        assert!(!t.clear(&holders[0]), "cleared once");
        assert_eq!(words[1].load(Ordering::Relaxed), 5, "generation kept");
        // Changed since it was seen: left alone.
        words[3].store((2 << GEN_BITS) | 6, Ordering::Relaxed);
        assert!(!t.clear(&holders[1]));
        assert_eq!(t.total_held(Ordering::Relaxed), 2);
        let empty = table(&[7, 8]);
        assert!(!SlotTable::new(&empty).any_held(Ordering::Relaxed));
    }
}
