//! The cloud the daemon syncs to. CONTRACT STUB — implemented by the engine helper.
