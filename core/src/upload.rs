//! Upload pipeline (in progress).
