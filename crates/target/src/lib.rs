//! The built-in test server (placeholder until implemented).
