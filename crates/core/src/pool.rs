//! The global buffer pool. (Being written.)
