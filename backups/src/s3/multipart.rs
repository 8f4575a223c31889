//! Splitting a large object into the parts of a multipart upload.
//!
//! R2 wants every part but the last of one size, at least 5 MiB; S3 allows at most 10,000 parts
//! of at most 5 GiB. A [`MultipartPlan`] holds to all three.

use std::ops::Range;

const MIB: u64 = 1024 * 1024;

/// Objects larger than this go up in parts ([`super::put_large`]); smaller ones in one `PUT`.
pub const MULTIPART_THRESHOLD: u64 = 16 * MIB;
/// The part size [`super::put_large`] uses unless told otherwise.
pub const DEFAULT_PART_SIZE: u64 = 8 * MIB;
/// The smallest part size S3 and R2 accept for all parts but the last.
pub const MIN_PART_SIZE: u64 = 5 * MIB;
/// The largest part size.
pub const MAX_PART_SIZE: u64 = 5 * 1024 * MIB;
/// The most parts one upload may have.
pub const MAX_PARTS: u32 = 10_000;

/// Why an object cannot be split as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// The part size is outside 5 MiB..=5 GiB.
    #[error("part size {part_size} bytes is outside {MIN_PART_SIZE}..={MAX_PART_SIZE}")]
    PartSize {
        /// The size asked for.
        part_size: u64,
    },
    /// The object needs more than 10,000 parts of this size.
    #[error("{len} bytes in parts of {part_size} need {parts} parts, more than {MAX_PARTS}")]
    TooManyParts {
        /// The object's length.
        len: u64,
        /// The size asked for.
        part_size: u64,
        /// How many parts it would take.
        parts: u64,
    },
}

/// One part: its 1-based number and the byte range of the object it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The part number, 1..=10,000.
    pub number: u32,
    /// The bytes of the object in this part.
    pub range: Range<u64>,
}

/// Equal-size parts covering `0..len`, the last one possibly shorter.
///
/// An empty object is one empty part (S3 needs at least one part to complete an upload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MultipartPlan {
    len: u64,
    part_size: u64,
    parts: u32,
}

impl MultipartPlan {
    /// Plans `len` bytes in parts of `part_size`.
    pub fn new(len: u64, part_size: u64) -> Result<Self, PlanError> {
        if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&part_size) {
            return Err(PlanError::PartSize { part_size });
        }
        let parts = len.div_ceil(part_size).max(1);
        let count = u32::try_from(parts)
            .ok()
            .filter(|&count| count <= MAX_PARTS)
            .ok_or(PlanError::TooManyParts {
                len,
                part_size,
                parts,
            })?;
        Ok(MultipartPlan {
            len,
            part_size,
            parts: count,
        })
    }

    /// The object's length.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the object is empty (then the plan is one empty part).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The size of every part but the last.
    pub fn part_size(&self) -> u64 {
        self.part_size
    }

    /// How many parts.
    pub fn part_count(&self) -> u32 {
        self.parts
    }

    /// The parts in order.
    pub fn parts(&self) -> impl ExactSizeIterator<Item = Part> + '_ {
        (0..self.parts).map(|index| {
            let number = index + 1;
            let start = u64::from(index) * self.part_size;
            let end = (start + self.part_size).min(self.len);
            Part {
                number,
                range: start..end,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges(plan: &MultipartPlan) -> Vec<Range<u64>> {
        plan.parts().map(|part| part.range).collect()
    }

    #[test]
    fn parts_are_equal_but_the_last() {
        let plan = MultipartPlan::new(12 * MIB, 5 * MIB).unwrap();
        assert_eq!(plan.part_count(), 3);
        assert_eq!(
            ranges(&plan),
            [0..5 * MIB, 5 * MIB..10 * MIB, 10 * MIB..12 * MIB]
        );
        let numbers: Vec<u32> = plan.parts().map(|part| part.number).collect();
        assert_eq!(numbers, [1, 2, 3]);
    }

    #[test]
    fn an_exact_multiple_has_no_short_part() {
        let plan = MultipartPlan::new(10 * MIB, 5 * MIB).unwrap();
        assert_eq!(ranges(&plan), [0..5 * MIB, 5 * MIB..10 * MIB]);
    }

    #[test]
    fn small_and_empty_objects_are_one_part() {
        let plan = MultipartPlan::new(1, MIN_PART_SIZE).unwrap();
        assert_eq!(ranges(&plan), vec![Range { start: 0, end: 1 }]);
        let empty = MultipartPlan::new(0, MIN_PART_SIZE).unwrap();
        assert!(empty.is_empty());
        assert_eq!(ranges(&empty), vec![Range { start: 0, end: 0 }]);
    }

    #[test]
    fn parts_cover_the_object_exactly_once() {
        for len in [MIB, 5 * MIB - 1, 5 * MIB, 5 * MIB + 1, 123_456_789] {
            let plan = MultipartPlan::new(len, MIN_PART_SIZE).unwrap();
            let mut next = 0;
            for part in plan.parts() {
                assert_eq!(part.range.start, next);
                assert!(!part.range.is_empty());
                next = part.range.end;
            }
            assert_eq!(next, len);
            assert_eq!(plan.parts().len(), plan.part_count() as usize);
        }
    }

    #[test]
    fn part_sizes_outside_the_limits_are_refused() {
        for part_size in [0, MIN_PART_SIZE - 1, MAX_PART_SIZE + 1] {
            assert_eq!(
                MultipartPlan::new(MIB, part_size),
                Err(PlanError::PartSize { part_size })
            );
        }
        assert!(MultipartPlan::new(MIB, MAX_PART_SIZE).is_ok());
    }

    #[test]
    fn at_most_ten_thousand_parts() {
        let at_limit = u64::from(MAX_PARTS) * MIN_PART_SIZE;
        assert_eq!(
            MultipartPlan::new(at_limit, MIN_PART_SIZE)
                .unwrap()
                .part_count(),
            MAX_PARTS
        );
        assert_eq!(
            MultipartPlan::new(at_limit + 1, MIN_PART_SIZE),
            Err(PlanError::TooManyParts {
                len: at_limit + 1,
                part_size: MIN_PART_SIZE,
                parts: u64::from(MAX_PARTS) + 1
            })
        );
        assert!(matches!(
            MultipartPlan::new(u64::MAX, MIN_PART_SIZE),
            Err(PlanError::TooManyParts { .. })
        ));
    }
}
