//! The engine. CONTRACT STUB — implemented by the engine helper.
