//! The per-camera GOP ring. (Being written.)
