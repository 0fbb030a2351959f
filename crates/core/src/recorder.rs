//! The recorder state machine. (Being written.)
