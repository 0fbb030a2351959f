//! Fragmented MP4. (Being written.)
